// The bearer token: kept in VS Code's SecretStorage (the OS keychain), never in a settings
// file. No `vscode` import: extension.ts hands in `context.secrets` and the plain setting.

/** The SecretStorage key of the token. */
export const TOKEN_SECRET = "projectqa.token";

/** The part of `vscode.SecretStorage` used here. */
export interface Secrets {
  get(key: string): PromiseLike<string | undefined>;
  store(key: string, value: string): PromiseLike<void>;
  delete(key: string): PromiseLike<void>;
}

/** The old plain `projectqa.token` setting per scope (`WorkspaceConfiguration.inspect`). */
export interface PlainToken {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** What `migrateToken` did. */
export interface Migration {
  /** The user-settings token is now the stored secret. */
  moved: boolean;
  /** The user-settings token was removed from the settings file. */
  cleared: boolean;
  /** A token is still written in this workspace's settings (to warn about; never adopted). */
  inWorkspace: boolean;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

/**
 * Moves a token from the user settings into `secrets`, once: it is stored when no secret is
 * there yet (a secret set with "ProjectQA: Set Token" wins), and removed from the settings
 * file either way, so it is never read from there again. A token in a workspace's settings
 * is left alone: it belongs to that folder (its authors may have put it there), so adopting
 * it for every window would be wrong; the caller warns instead.
 */
export async function migrateToken(
  secrets: Secrets,
  plain: PlainToken | undefined,
  clearUserSetting: () => PromiseLike<void>,
): Promise<Migration> {
  const user = text(plain?.globalValue);
  const inWorkspace = Boolean(text(plain?.workspaceValue) || text(plain?.workspaceFolderValue));
  if (!user) {
    return { moved: false, cleared: false, inWorkspace };
  }
  const stored = text(await secrets.get(TOKEN_SECRET));
  if (!stored) {
    await secrets.store(TOKEN_SECRET, user);
  }
  await clearUserSetting();
  return { moved: !stored, cleared: true, inWorkspace };
}

/**
 * Stores what the user typed into "ProjectQA: Set Token"; an empty value removes the stored
 * token (the bridge then falls back to `PROJECTQA_TOKEN` or a local server's token file).
 */
export async function storeToken(secrets: Secrets, typed: string): Promise<"stored" | "removed"> {
  const token = typed.trim();
  if (!token) {
    await secrets.delete(TOKEN_SECRET);
    return "removed";
  }
  await secrets.store(TOKEN_SECRET, token);
  return "stored";
}

/**
 * The token the bridge is started with: the stored secret, else a token still written in
 * the workspace's settings (VS Code leaves that out in an untrusted workspace), else none.
 */
export async function bridgeToken(
  secrets: Secrets,
  setting: string | undefined,
): Promise<string | undefined> {
  return text(await secrets.get(TOKEN_SECRET)) || text(setting) || undefined;
}

/** The warning for a token written in the workspace's settings. */
export const WORKSPACE_TOKEN_WARNING =
  "ProjectQA: projectqa.token is written in this workspace's settings, where anyone who can " +
  "read them sees it. Remove it there and run “ProjectQA: Set Token”, which keeps the " +
  "token in VS Code's secret storage.";
