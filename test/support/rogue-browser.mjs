// A misbehaving "browser" for the loopback's bad-input tests, invoked as BROWSER with the URL last.
// ROGUE_MODE=forged-state: calls the callback with a state of its own instead of signing in.
// ROGUE_MODE=twice: signs in normally, then replays the callback once more.
// Appends one JSON line to ROGUE_LOG with what each callback request got.
import { appendFileSync } from 'node:fs';
import { followLogin } from './scripted-browser.mjs';

const url = process.argv.at(-1);
const mode = process.env.ROGUE_MODE;
const record = (entry) => process.env.ROGUE_LOG && appendFileSync(process.env.ROGUE_LOG, JSON.stringify(entry) + '\n');

async function get(target) {
  try {
    const res = await fetch(target);
    return { status: res.status, body: (await res.text()).slice(0, 500) };
  } catch (err) {
    return { error: err.cause?.code ?? err.message };
  }
}

try {
  if (mode === 'forged-state') {
    const redirect = new URL(new URL(url).searchParams.get('redirect_uri'));
    redirect.search = new URLSearchParams({ code: 'attacker-code', state: 'forged-state' }).toString();
    record({ mode, first: await get(redirect) });
  } else if (mode === 'twice') {
    const first = await followLogin(url);
    record({ mode, first: { status: first.status }, second: await get(first.callbackUrl) });
  } else {
    record({ error: `unknown ROGUE_MODE ${mode}` });
  }
} catch (err) {
  record({ mode, error: String(err?.message ?? err) });
}
