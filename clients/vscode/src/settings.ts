// The extension's `projectqa.*` settings and what the bridge is started with.
// No `vscode` import: extension.ts reads the configuration into a plain object.

/** The `projectqa` configuration section, as VS Code returns it. */
export interface ProjectQASettings {
  serverPath?: string;
  address?: string;
  token?: string;
  project?: string;
  codeLens?: boolean;
  extractive?: boolean;
}

/** The keys of docs/EDITORS.md's settings table that the extension passes on. */
export interface InitializationOptions {
  address?: string;
  token?: string;
  project?: string;
  codeLens: boolean;
  extractive: boolean;
}

export const DEFAULT_SERVER_PATH = "projectqa-lsp";

/** Settings keys whose change needs the bridge restarted (it reads them at `initialize`). */
export const RESTART_KEYS = [
  "serverPath",
  "address",
  "token",
  "project",
  "codeLens",
  "extractive",
] as const;

/**
 * The `initializationOptions` of `initialize`, with `token` (from secret storage, see
 * token.ts) rather than the settings' plain one. Empty strings are left out so the bridge
 * falls back to its command line, environment and defaults (token file, inferred project),
 * as the settings-precedence list in docs/EDITORS.md describes.
 */
export function initializationOptions(
  settings: ProjectQASettings,
  token?: string,
): InitializationOptions {
  const options: InitializationOptions = {
    codeLens: settings.codeLens === true,
    extractive: settings.extractive === true,
  };
  const values = { address: settings.address, token, project: settings.project };
  for (const key of ["address", "token", "project"] as const) {
    const value = values[key]?.trim();
    if (value) {
      options[key] = value;
    }
  }
  return options;
}

/** One setting's values per scope (`WorkspaceConfiguration.inspect`), as far as used here. */
export interface ScopedValues {
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * Whether the workspace itself configures ProjectQA (a `projectqa.*` value in its settings):
 * then the bridge starts with the window. Otherwise it starts on the first ProjectQA command,
 * so a window that never uses ProjectQA never runs it.
 */
export function workspaceConfiguresProjectQA(values: (ScopedValues | undefined)[]): boolean {
  return values.some(
    (scoped) => scoped?.workspaceValue !== undefined || scoped?.workspaceFolderValue !== undefined,
  );
}

/** The program to start: `projectqa.serverPath`, or `projectqa-lsp` from PATH. */
export function serverCommand(settings: ProjectQASettings): string {
  return settings.serverPath?.trim() || DEFAULT_SERVER_PATH;
}

/** Whether a configuration change (tested per key with `affects`) needs a restart. */
export function needsRestart(affects: (key: string) => boolean): boolean {
  return RESTART_KEYS.some((key) => affects(`projectqa.${key}`));
}

/** What to tell the user when the bridge did not start, with the fix. */
export function startFailureMessage(command: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return (
    `ProjectQA: could not start the language server '${command}' (${reason}). ` +
    "Install the projectqa Python package so that projectqa-lsp is on PATH, " +
    "or set projectqa.serverPath to its full path."
  );
}
