import type { ReactNode } from 'react';

/** One command the view suggests, with what it shows. */
export interface DemoCommand {
  command: string;
  note?: string;
}

/** Everything the demo view shows; no token or secret (the demo password is published). */
export interface DemoViewInfo {
  issuer: string;
  mcpUrl: string;
  user: { login: string; password: string };
  profile: string;
  configFile: string;
  /** What was saved for the profile, in words. */
  saved: string;
  /** Set when the demo moved a profile that named another server or issuer: what changed and what to do. */
  changed?: string;
  dataDir: string;
  keysCreated: boolean;
  /** The gateway child the MCP server fronts: its own URL, and where the MCP server serves it alone. */
  child?: { name: string; url: string; servedAt: string };
  commands: DemoCommand[];
}

/**
 * The demo's start-up view on an interactive terminal: what runs where, the demo user, and the
 * commands to type next. It is drawn once and left on screen (not kept live): the servers' log
 * lines follow it on stderr, and a live ink region would be torn by them.
 *
 * ink is ESM-only and loaded with `import()` here, so the CommonJS bundle never `require`s it.
 */
export async function renderDemo(stream: NodeJS.WritableStream, info: DemoViewInfo): Promise<void> {
  const { render, Box, Text } = await import('ink');
  const Row = ({ label, children }: { label: string; children: ReactNode }) => (
    <Box>
      <Box width={20} flexShrink={0}>
        <Text dimColor>{label}</Text>
      </Box>
      <Box flexDirection="column">{children}</Box>
    </Box>
  );
  const View = () => (
    <Box flexDirection="column" paddingX={1}>
      <Box>
        <Text backgroundColor="yellow" color="black" bold>
          {' DEMO '}
        </Text>
        <Text bold> seed-mcp demo — not for production</Text>
      </Box>
      <Text>An identity provider and seed-mcp cloud, on 127.0.0.1 only.</Text>
      <Box flexDirection="column" marginTop={1}>
        <Row label="Identity provider">
          <Text color="cyan">{info.issuer}</Text>
        </Row>
        <Row label="MCP server">
          <Text color="cyan">{info.mcpUrl}</Text>
        </Row>
        {info.child ? (
          <Row label="Gateway child">
            <Text>
              <Text bold>{info.child.name}</Text> at <Text color="cyan">{info.child.url}</Text>
            </Text>
            <Text dimColor>{`on /mcp as ${info.child.name}_<tool>, alone at ${info.child.servedAt}`}</Text>
          </Row>
        ) : null}
        <Row label="Demo user">
          <Text>
            <Text bold>{info.user.login}</Text>
            {'  password '}
            <Text bold>{info.user.password}</Text>
          </Text>
        </Row>
        <Row label={`Profile "${info.profile}"`}>
          <Text>saved in {info.configFile}</Text>
          <Text dimColor>{info.saved}</Text>
          {info.changed ? <Text color="yellow">{info.changed}</Text> : null}
        </Row>
        <Row label="Demo data">
          <Text>{info.dataDir}</Text>
          <Text dimColor>{info.keysCreated ? 'signing keys and sessions: new keys' : 'signing keys and sessions: kept from the last run'}</Text>
        </Row>
      </Box>
      <Box flexDirection="column" marginTop={1}>
        <Text bold>Next, in a second terminal:</Text>
        {info.commands.map((c) => (
          <Box key={c.command} flexDirection="column" paddingLeft={2}>
            <Text color="green">{c.command}</Text>
            {c.note ? (
              <Box paddingLeft={4}>
                <Text dimColor>{c.note}</Text>
              </Box>
            ) : null}
          </Box>
        ))}
      </Box>
      <Box marginTop={1}>
        <Text>
          <Text color="yellow">DEMO</Text> running. Ctrl-C stops it.
        </Text>
      </Box>
    </Box>
  );
  const instance = render(<View />, { stdout: stream as NodeJS.WriteStream, exitOnCtrlC: false, patchConsole: false });
  instance.unmount();
  await instance.waitUntilExit();
}
