-- Drives the ProjectQA Neovim plugin headlessly for tests/clients/test_nvim_plugin.py.
--
-- Environment: PROJECTQA_NVIM_SETUP (JSON options for setup{}), PROJECTQA_NVIM_COMMAND (the
-- Ex command to run, e.g. "ProjectQAAsk …"), PROJECTQA_NVIM_OUT (where the JSON report goes),
-- PROJECTQA_NVIM_INPUT (optional: what the user types when the plugin prompts),
-- PROJECTQA_NVIM_CLOSE_EARLY=1 (press `q` in the float as soon as the request is sent).
-- Turns syntax on (as a user's Neovim has it), runs the command in the first buffer, waits
-- (bounded) for the ask to end, runs :ProjectQAStatus, writes what the user saw (every text
-- the float showed, in order, its lines, conceallevel and concealed characters, the
-- quickfix list, notifications) and quits.

local WAIT_MS = 25000 -- per wait; the test kills Neovim after 90 s in all
local report = { notifications = {}, shown = {} }

vim.notify = function(message, level)
  table.insert(report.notifications, { message = message, level = level or vim.log.levels.INFO })
end

vim.ui.input = function(opts, on_confirm)
  report.prompt = opts.prompt
  on_confirm(os.getenv('PROJECTQA_NVIM_INPUT'))
end

local function floats()
  local found = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      table.insert(found, win)
    end
  end
  return found
end

local function quickfix()
  local list = vim.fn.getqflist({ title = 1, items = 1 })
  local items = {}
  for _, item in ipairs(list.items) do
    local name = vim.api.nvim_buf_get_name(item.bufnr)
    table.insert(items, { filename = name, lnum = item.lnum, text = item.text })
  end
  return { title = list.title, items = items }
end

-- The characters of window `win` that its syntax conceals now ("line:col" each): with
-- markdown syntax on, conceallevel 2 hid the `_` of `httpx/_config.py`.
local function concealed(win)
  local found = {}
  vim.api.nvim_win_call(win, function()
    for lnum, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
      for col = 1, #line do
        if vim.fn.synconcealed(lnum, col)[1] == 1 then
          table.insert(found, ('%d:%d'):format(lnum, col))
        end
      end
    end
  end)
  return found
end

local function wait_for_notification(count)
  return vim.wait(WAIT_MS, function()
    return #report.notifications > count
  end, 20)
end

local function drive()
  vim.cmd('syntax on') -- as in a user's Neovim: the float's markdown syntax is active
  local ui = require('projectqa.ui')
  local show = ui.show
  ui.show = function(view, text) -- records each state of the float: placeholder, stream, answer
    table.insert(report.shown, text)
    return show(view, text)
  end
  local projectqa = require('projectqa')
  projectqa.setup(vim.json.decode(os.getenv('PROJECTQA_NVIM_SETUP')))
  local source = vim.api.nvim_get_current_buf()
  vim.cmd(os.getenv('PROJECTQA_NVIM_COMMAND'))
  local ask = assert(projectqa.last_ask(), 'the command started no ask')
  if os.getenv('PROJECTQA_NVIM_CLOSE_EARLY') == '1' then
    report.sent = vim.wait(WAIT_MS, function()
      return ask.request_id ~= nil
    end, 1)
    vim.api.nvim_feedkeys('q', 'x', false)
  end
  report.finished = vim.wait(WAIT_MS, function()
    return ask.done
  end, 20)
  report.ask = { chunks = ask.chunks, status = ask.status, error = ask.error, text = ask.text }
  report.ask.argument = ask.argument
  if vim.api.nvim_buf_is_valid(ask.view.buf) then
    report.float_lines = vim.api.nvim_buf_get_lines(ask.view.buf, 0, -1, false)
    report.float_filetype = vim.bo[ask.view.buf].filetype
  end
  if vim.api.nvim_win_is_valid(ask.view.win) then
    report.float_conceallevel = vim.wo[ask.view.win].conceallevel
    report.float_concealed = concealed(ask.view.win)
  end
  report.floats = #floats()
  report.quickfix = quickfix()
  local count = #report.notifications
  vim.cmd('ProjectQAStatus')
  report.status_shown = wait_for_notification(count)
  -- Still usable: `q` closes the float, and the source buffer takes an edit.
  if #floats() > 0 then
    vim.api.nvim_feedkeys('q', 'x', false)
  end
  report.floats_after_q = #floats()
  vim.api.nvim_set_current_buf(source)
  vim.api.nvim_buf_set_lines(source, 0, 0, false, { '# edited' })
  report.first_line = vim.api.nvim_buf_get_lines(source, 0, 1, false)[1]
end

local ok, err = pcall(drive)
report.driver_error = not ok and tostring(err) or nil
local out = assert(io.open(os.getenv('PROJECTQA_NVIM_OUT'), 'w'))
out:write(vim.json.encode(report))
out:close()
vim.cmd('qa!')
