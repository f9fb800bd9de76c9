-- ProjectQA for Neovim: starts the `projectqa-lsp` bridge for the workspace and renders
-- what it answers. The protocol is in docs/EDITORS.md of the ProjectQA repository.
-- Works on Neovim 0.7.2 and newer: APIs that came later are guarded.

local compat = require('projectqa.compat')
local ui = require('projectqa.ui')

local M = {}

local uv = vim.uv or vim.loop
local ERROR, WARN, INFO = vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO
local REQUEST_CANCELLED = -32800
local request, cancel, notify = compat.request, compat.cancel, compat.notify
local MESSAGE_LEVELS = compat.MESSAGE_LEVELS

local defaults = {
  cmd = { 'projectqa-lsp' },
  address = nil, -- host:port; else PROJECTQA_ADDRESS, else 127.0.0.1:50051
  token = nil, -- else PROJECTQA_TOKEN, else the token file of a local server
  project = nil, -- id or slug; else inferred from the workspace
  code_lens = false,
  extractive = false,
  filetypes = nil, -- nil: every file of the workspace; else a list of filetypes
  auto_start = true, -- start the bridge when a workspace file opens (else on first command)
}

local config = vim.deepcopy(defaults)
local clients = {} -- workspace root -> { id, client, ready, waiting }
local unstartable = {} -- workspace roots whose bridge failed to start: no retry on file open
local asks = {} -- ask id -> ask (see new_ask)
local last_ask = nil
local ask_count = 0

-- ------------------------------------------------------------------ workspace

local function git_root(dir)
  while true do
    if uv.fs_stat(dir .. '/.git') then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      return nil
    end
    dir = parent
  end
end

--- The workspace: the git checkout holding the current directory, else the directory.
function M.root()
  local cwd = vim.fn.getcwd()
  return git_root(cwd) or cwd
end

local function file_buffer(bufnr)
  return vim.bo[bufnr].buftype == '' and vim.api.nvim_buf_get_name(bufnr) ~= ''
end

local function in_workspace(bufnr, root)
  if not file_buffer(bufnr) then
    return false
  end
  if config.filetypes and not vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  return name:sub(1, #root + 1) == root .. '/'
end

-- ------------------------------------------------------------------ the bridge

-- Never empty: the booleans are always there, so it encodes as a JSON object, not [].
local function init_options()
  return {
    address = config.address,
    token = config.token,
    project = config.project,
    codeLens = config.code_lens,
    extractive = config.extractive,
  }
end

local handlers = {
  ['projectqa/answerChunk'] = function(_, params)
    local ask = params and asks[params.askId]
    if ask and not ask.done then
      ask.chunks = ask.chunks + 1
      ask.text = ask.text .. params.text
      ui.show(ask.view, ask.text)
    end
  end,
  -- Through vim.notify like the plugin's own messages (Neovim's handler prints
  -- "LSP[projectqa]" before the bridge's "ProjectQA: ").
  ['window/showMessage'] = function(_, result)
    if result and result.message then
      notify(result.message, MESSAGE_LEVELS[result.type] or INFO)
    end
  end,
  ['$/progress'] = function(err, result, ctx, handler_config)
    local ask = result and asks[result.token]
    local value = result and result.value
    if ask and not ask.done and ask.chunks == 0 and type(value) == 'table' and value.message then
      ui.show(ask.view, value.message)
    end
    return vim.lsp.handlers['$/progress'](err, result, ctx, handler_config)
  end,
}

local function flush(entry)
  local waiting = entry.waiting
  entry.waiting = {}
  for _, callback in ipairs(waiting) do
    callback(entry.client)
  end
end

local function fail_asks(message)
  for _, ask in pairs(asks) do
    if not ask.done then
      ask.done, ask.error = true, message
      ui.close(ask.view)
    end
  end
  notify(message, ERROR)
end

-- `bufnr` (a file buffer, the current one) is attached; nil: start without a buffer.
local function spawn(client_config, bufnr)
  if vim.fn.has('nvim-0.11') == 1 then -- start_client is deprecated there
    return vim.lsp.start(client_config, { bufnr = bufnr, attach = bufnr ~= nil })
  elseif vim.lsp.start and bufnr then -- 0.8-0.10 attach the current buffer
    return vim.lsp.start(client_config)
  end
  return vim.lsp.start_client(client_config)
end

local function start(root, bufnr)
  local entry = clients[root]
  if entry and vim.lsp.get_client_by_id(entry.id) then
    return entry
  end
  entry = { ready = false, waiting = {} }
  local ok, id = pcall(spawn, {
    name = 'projectqa',
    cmd = config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = init_options(),
    handlers = handlers,
    on_init = function(client)
      entry.client = client
      -- Scheduled: on 0.7 the didOpen of already attached buffers is sent after on_init.
      vim.schedule(function()
        entry.ready = true
        flush(entry)
      end)
    end,
    on_exit = function(code)
      vim.schedule(function()
        if clients[root] == entry then
          clients[root] = nil
        end
        if code ~= 0 then
          fail_asks(('the bridge %s exited with code %d'):format(config.cmd[1], code))
        end
      end)
    end,
  }, bufnr)
  if not ok or not id then
    local why = ok and 'is it installed and on PATH?' or tostring(id)
    notify(('cannot start the bridge %s: %s'):format(config.cmd[1], why), ERROR)
    unstartable[root] = true
    return nil
  end
  unstartable[root] = nil
  entry.id = id
  clients[root] = entry
  return entry
end

--- Starts (or reuses) the bridge of the workspace and attaches `bufnr` to it.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local root = M.root()
  local entry = start(root, file_buffer(bufnr) and bufnr or nil)
  if entry and file_buffer(bufnr) then
    vim.lsp.buf_attach_client(bufnr, entry.id)
  end
  return entry
end

-- Calls `callback(client)` once the bridge has initialised. (Requests sent while the
-- bridge still connects wait for that attempt on the bridge's side.)
local function with_bridge(bufnr, callback)
  local entry = M.attach(bufnr)
  if not entry then
    return false
  end
  if entry.ready then
    callback(entry.client)
  else
    table.insert(entry.waiting, callback)
  end
  return true
end

-- ------------------------------------------------------------------ asking

local function finish(ask, err, result)
  if ask.done then -- cancelled meanwhile
    return
  end
  ask.done = true
  if err then
    ask.error = err.message
    ui.close(ask.view)
    if err.code ~= REQUEST_CANCELLED then -- (newer Neovims may pass it on)
      notify(err.message, ERROR)
    end
    return
  end
  ask.status, ask.answer, ask.citations = result.status, result.answer, result.citations
  ui.show(ask.view, ui.answer_text(result))
  local count = ui.quickfix(ask.title, result.citations)
  if result.status == 'failed' or result.status == 'interrupted' then
    notify('the answer ended early (' .. result.status .. ')', WARN)
  elseif count > 0 and not ui.is_open(ask.view) then
    notify(('answered with %d sources: :copen'):format(count), INFO)
  end
end

local function new_ask(title, placeholder)
  ask_count = ask_count + 1
  local ask = { id = ('nvim-%d-%d'):format(vim.fn.getpid(), ask_count), title = title }
  ask.chunks, ask.text, ask.done = 0, '', false
  ask.view = ui.open(title, placeholder, function()
    ask.closed = true
    if not ask.done and ask.request_id then
      -- Neovim drops the RequestCancelled answer without calling back: the ask ends here.
      ask.done, ask.error, asks[ask.id] = true, 'cancelled', nil
      cancel(ask.client, ask.request_id)
    end
  end)
  asks[ask.id] = ask
  last_ask = ask
  return ask
end

-- Sends `command` with `argument` (gets askId and the progress token added) for `bufnr`.
local function run(bufnr, command, argument, title)
  local ask = new_ask(title, 'Asking ProjectQA…')
  argument.askId = ask.id
  ask.argument = argument
  local started = with_bridge(bufnr, function(client)
    if ask.closed then -- closed with `q` while the bridge was starting
      ask.done, ask.error, asks[ask.id] = true, 'cancelled', nil
      return
    end
    ask.client = client
    local params = { command = command, arguments = { argument }, workDoneToken = ask.id }
    local ok, request_id = request(client, 'workspace/executeCommand', params, function(err, result)
      asks[ask.id] = nil
      finish(ask, err, result)
    end)
    ask.request_id = ok and request_id or nil
  end)
  if not started then
    ask.done, ask.error, asks[ask.id] = true, 'the bridge did not start', nil
    ui.close(ask.view)
  end
  return ask
end

local function selection(bufnr, line1, line2)
  return {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    -- Whole lines: from the start of line1 to the start of the line after line2.
    range = {
      start = { line = line1 - 1, character = 0 },
      ['end'] = { line = line2, character = 0 },
    },
  }
end

local function ask_about(bufnr, question, lines)
  local argument = lines and selection(bufnr, lines[1], lines[2]) or {}
  argument.question = question
  return run(bufnr, 'projectqa.ask', argument, 'ProjectQA: ' .. question)
end

--- Asks `question` (prompts when empty); with `lines` ({line1, line2}), about those lines.
function M.ask(question, lines)
  question = vim.trim(question or '')
  local bufnr = vim.api.nvim_get_current_buf()
  if question ~= '' then
    return ask_about(bufnr, question, lines)
  end
  local prompt = vim.ui and vim.ui.input
    or function(opts, on_confirm)
      on_confirm(vim.fn.input(opts.prompt))
    end
  prompt({ prompt = 'Ask ProjectQA: ' }, function(input)
    if input and vim.trim(input) ~= '' then
      ask_about(bufnr, vim.trim(input), lines)
    end
  end)
  return nil
end

--- Explains lines `line1`-`line2` of the current buffer (projectqa.explainSelection).
function M.explain(line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  if not file_buffer(bufnr) then
    notify('explain works on a file of the workspace', ERROR)
    return nil
  end
  local title = ('ProjectQA: explain %s:%d-%d'):format(vim.fn.expand('%:.'), line1, line2)
  return run(bufnr, 'projectqa.explainSelection', selection(bufnr, line1, line2), title)
end

--- Shows what the bridge is connected to, or why it is not.
function M.status()
  with_bridge(vim.api.nvim_get_current_buf(), function(client)
    request(client, 'workspace/executeCommand', { command = 'projectqa.status' }, function(err, s)
      if err then
        notify(err.message, ERROR)
      elseif s.connected then
        notify(('connected to %s as %s, project %s'):format(s.address, s.user, s.project), INFO)
      else
        notify(('not connected to %s: %s'):format(s.address, s.message), WARN)
      end
    end)
  end)
end

--- The latest ask: {id, title, argument (what was sent), chunks, text (streamed), done,
--- status, answer, citations, error, view}.
function M.last_ask()
  return last_ask
end

-- ------------------------------------------------------------------ set-up

function M.create_commands()
  local command = vim.api.nvim_create_user_command
  command('ProjectQAAsk', function(o)
    M.ask(o.args, o.range > 0 and { o.line1, o.line2 } or nil)
  end, { nargs = '*', range = true, desc = 'Ask ProjectQA (with a range: about those lines)' })
  command('ProjectQAExplain', function(o)
    M.explain(o.line1, o.line2)
  end, { range = true, desc = 'Explain the lines in range with ProjectQA' })
  command('ProjectQAStatus', M.status, { desc = 'What the ProjectQA bridge is connected to' })
end

local function auto_attach(bufnr)
  local root = M.root()
  if config.auto_start and not unstartable[root] and in_workspace(bufnr, root) then
    vim.api.nvim_buf_call(bufnr, function() -- vim.lsp.start attaches the current buffer
      M.attach(bufnr)
    end)
  end
end

--- Configures the plugin (see README.md for the options) and attaches open workspace files.
function M.setup(options)
  config = vim.tbl_extend('force', vim.deepcopy(defaults), options or {})
  unstartable = {}
  M.create_commands()
  local group = vim.api.nvim_create_augroup('projectqa', { clear = true })
  vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile', 'FileType' }, {
    group = group,
    callback = function(args)
      auto_attach(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      auto_attach(bufnr)
    end
  end
end

return M
