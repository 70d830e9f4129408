/** Types of scripted-browser.mjs (plain JavaScript so that it runs as `BROWSER` without a build). */
export declare class CookieJar {
  store(url: URL, headers: Headers): void;
  header(url: URL): string | undefined;
}
export interface FollowLoginOptions {
  login?: string;
  password?: string;
  action?: 'approve' | 'deny';
  log?: (line: string) => void;
  jar?: CookieJar;
  maxSteps?: number;
  /** On seed-mcp's own consent page: Allow (default), Deny, or stop there (the result then has `consentPage`). */
  consent?: 'approve' | 'deny' | 'stop';
}
export interface FollowLoginResult {
  callbackUrl: string;
  status: number;
  body: string;
  consentPage?: string;
  /** How seed-mcp's own consent page was answered, when it was shown on the way. */
  consented?: 'approve' | 'deny';
}
export declare function followLogin(url: string, options?: FollowLoginOptions): Promise<FollowLoginResult>;
export declare function approveDevice(
  verificationUri: string,
  options?: FollowLoginOptions & { userCode?: string },
): Promise<{ outcome: 'approved' | 'denied'; status: number; body: string }>;
