// The bearer token: kept in VS Code's SecretStorage (the OS keychain), never in a settings
// file, one per server address. No `vscode` import: extension.ts hands in `context.secrets`
// and the plain settings.

/** The part of `vscode.SecretStorage` used here. */
export interface Secrets {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

/** The SecretStorage key of the one token stored before tokens were kept per address. */
export const UNKEYED_TOKEN_SECRET = "projectqa.token";

const SECRET_PREFIX = "projectqa.token@";

/**
 * The SecretStorage key of the token for `address` (`projectqa.address`). Tokens are kept
 * per address so that a token is only ever sent to the server it was stored for: a trusted
 * workspace may set `projectqa.address`, and must not receive the token of another server.
 * An empty address is the bridge's default one (`PROJECTQA_ADDRESS`, the saved `projectqa
 * login`, else 127.0.0.1:50051), which no workspace setting chooses.
 */
export function tokenSecret(address: string | undefined): string {
  return SECRET_PREFIX + (address?.trim().toLowerCase() || "default");
}

/** Whether a SecretStorage key is one of this extension's tokens. */
export function isTokenSecret(key: string): boolean {
  return key === UNKEYED_TOKEN_SECRET || key.startsWith(SECRET_PREFIX);
}

/** How the Set Token prompt names the server a token is for. */
export function describeAddress(address: string | undefined): string {
  const trimmed = address?.trim();
  return trimmed
    ? `the ProjectQA server at ${trimmed}`
    : "the default ProjectQA server " +
        "(PROJECTQA_ADDRESS, your projectqa login, else 127.0.0.1:50051)";
}

/** One setting per scope (`WorkspaceConfiguration.inspect`). */
export interface PlainSetting {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** What `migrateToken` did. */
export interface Migration {
  /** The user-settings (or unkeyed) token is now the stored secret of the user's address. */
  moved: boolean;
  /** The user-settings token differed from the secret already stored for that address and
   * was removed without being kept (the user is told, to run Set Token if it was the one). */
  discarded: boolean;
  /** The user-settings token was removed from the settings file. */
  cleared: boolean;
  /** A token is still written in this workspace's settings (to warn about; never adopted). */
  inWorkspace: boolean;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

/** The address a user's own settings name (never a workspace's): where their token goes. */
export function userAddress(address: PlainSetting | undefined): string {
  return text(address?.globalValue);
}

/**
 * Moves a token into `secrets` under the key of the user's own address (their user-settings
 * `projectqa.address`), once: the token of the user settings, and the one secret stored
 * before tokens were kept per address. A secret already stored for that address wins (it was
 * set with "ProjectQA: Set Token"); a different user-settings token is then reported as
 * discarded. The user setting is removed either way, so it is never read from there again.
 * A token in a workspace's settings is left alone: it belongs to that folder (its authors may
 * have put it there), so adopting it for every window would be wrong; the caller warns.
 */
export async function migrateToken(
  secrets: Secrets,
  plain: PlainSetting | undefined,
  address: string,
  clearUserSetting: () => PromiseLike<void>,
): Promise<Migration> {
  const key = tokenSecret(address);
  const inWorkspace = Boolean(text(plain?.workspaceValue) || text(plain?.workspaceFolderValue));
  const unkeyed = text(await secrets.get(UNKEYED_TOKEN_SECRET));
  let stored = text(await secrets.get(key));
  let moved = false;
  if (unkeyed) {
    if (!stored) {
      await secrets.store(key, unkeyed);
      stored = unkeyed;
      moved = true;
    }
    await secrets.delete(UNKEYED_TOKEN_SECRET);
  }
  const user = text(plain?.globalValue);
  if (!user) {
    return { moved, discarded: false, cleared: false, inWorkspace };
  }
  if (!stored) {
    await secrets.store(key, user);
    moved = true;
  }
  await clearUserSetting();
  return { moved, discarded: Boolean(stored) && stored !== user, cleared: true, inWorkspace };
}

/**
 * Stores what the user typed into "ProjectQA: Set Token" for `address`; an empty value
 * removes that token (the bridge then falls back to `PROJECTQA_TOKEN` or a local server's
 * token file).
 */
export async function storeToken(
  secrets: Secrets,
  address: string | undefined,
  typed: string,
): Promise<"stored" | "removed"> {
  const token = typed.trim();
  if (!token) {
    await secrets.delete(tokenSecret(address));
    return "removed";
  }
  await secrets.store(tokenSecret(address), token);
  return "stored";
}

/**
 * The token the bridge is started with for `address`: the secret stored for it, else a
 * token still written in the workspace's settings (VS Code leaves that out in an untrusted
 * workspace), else none.
 */
export async function bridgeToken(
  secrets: Secrets,
  address: string | undefined,
  setting: string | undefined,
): Promise<string | undefined> {
  return text(await secrets.get(tokenSecret(address))) || text(setting) || undefined;
}

/** The warning for a token written in the workspace's settings. */
export const WORKSPACE_TOKEN_WARNING =
  "ProjectQA: projectqa.token is written in this workspace's settings, where anyone who can " +
  "read them sees it. Remove it there and run “ProjectQA: Set Token”, which keeps the " +
  "token in VS Code's secret storage.";

/** What the user is told when their user-settings token was not kept (see `migrateToken`). */
export function discardedTokenMessage(address: string): string {
  return (
    "ProjectQA: the projectqa.token in your user settings was removed without being kept: " +
    `VS Code's secret storage already holds a different token for ${describeAddress(address)}, ` +
    "which stays in use. If the removed one was right, run “ProjectQA: Set Token” with it."
  );
}
