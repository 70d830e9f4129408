import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SeedError } from '../shared/errors.js';

/** What `login` remembers about a profile (never a secret: the client secret stays in its file). */
export const ProfileConfigSchema = z
  .object({
    issuer: z.string().url().optional(),
    clientId: z.string().min(1).optional(),
    clientSecretFile: z.string().optional(),
    scopes: z.string().optional(),
    resource: z.string().url().optional(),
    noResource: z.boolean().optional(),
    redirectHost: z.enum(['127.0.0.1', 'localhost']).optional(),
    upstream: z.string().url().optional(),
    assumePkce: z.boolean().optional(),
    prompt: z.string().optional(),
  })
  .strict();
export type ProfileConfig = z.infer<typeof ProfileConfigSchema>;

const FileSchema = z.object({ profiles: z.record(z.string(), ProfileConfigSchema).default({}) }).passthrough();
type ConfigFile = z.infer<typeof FileSchema>;

/** Path of `config.json` in the config dir. */
export function configFilePath(dir: string): string {
  return join(dir, 'config.json');
}

async function readConfigFile(dir: string): Promise<ConfigFile> {
  const path = configFilePath(dir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new SeedError('CONFIG_INVALID', `could not read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SeedError('CONFIG_INVALID', `could not read ${path}: it is not valid JSON`, {
      hint: `fix or delete ${path}, then run \`seed-mcp login\` again`,
    });
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new SeedError('CONFIG_INVALID', `could not read ${path}: ${problems}`, {
      hint: `fix or delete ${path}, then run \`seed-mcp login\` again`,
    });
  }
  return parsed.data;
}

/** Reads one profile's saved settings; an absent file or profile gives `{}`. */
export async function readProfileConfig(dir: string, profile: string): Promise<ProfileConfig> {
  return (await readConfigFile(dir)).profiles[profile] ?? {};
}

/** Replaces one profile's saved settings, keeping every other profile. Written atomically, 0600. */
export async function writeProfileConfig(dir: string, profile: string, config: ProfileConfig): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = await readConfigFile(dir);
  file.profiles[profile] = config;
  const path = configFilePath(dir);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
