-- The answer's floating window and the quickfix list of its citations.
-- Only APIs of Neovim 0.7; newer features (a border title) are guarded.

local M = {}

local function size()
  local width = math.max(math.min(100, vim.o.columns - 4), 20)
  local height = math.max(math.min(20, vim.o.lines - 6), 3)
  return width, height
end

--- Opens a focused float (`q` closes it) showing `placeholder`. The answer is markdown and
--- highlighted as such, but nothing is concealed: markdown syntax conceals `_`, `*` and
--- backticks (on 0.7 it hid the `_` of `httpx/_config.py`), and paths must read exactly.
--- `on_close` runs when `q` is pressed, e.g. to cancel a running ask.
function M.open(title, placeholder, on_close)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'markdown'
  local width, height = size()
  local config = {
    relative = 'editor',
    width = width,
    height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    style = 'minimal',
    border = 'rounded',
  }
  if vim.fn.has('nvim-0.9') == 1 then -- border titles came with 0.9
    config.title = ' ' .. title:gsub('%s+', ' '):sub(1, width - 4) .. ' '
  end
  local win = vim.api.nvim_open_win(buf, true, config)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 0
  local view = { buf = buf, win = win, on_close = on_close }
  vim.api.nvim_buf_set_keymap(buf, 'n', 'q', '', {
    noremap = true,
    nowait = true,
    silent = true,
    callback = function()
      M.close(view)
    end,
  })
  M.show(view, placeholder)
  return view
end

function M.is_open(view)
  return view ~= nil and vim.api.nvim_win_is_valid(view.win) and vim.api.nvim_buf_is_valid(view.buf)
end

--- Replaces the float's text (markdown, may hold newlines).
function M.show(view, text)
  if not M.is_open(view) then
    return
  end
  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
  vim.bo[view.buf].modifiable = false
end

function M.close(view)
  if view == nil then
    return
  end
  local callback = view.on_close
  view.on_close = nil
  if vim.api.nvim_win_is_valid(view.win) then
    vim.api.nvim_win_close(view.win, true)
  end
  if callback then
    callback()
  end
end

local SOURCES_HEADING = '\n\n**Sources**\n'

local function source_line(cited)
  local parts = {}
  if cited.marker and cited.marker ~= '' then
    table.insert(parts, cited.marker)
  end
  table.insert(parts, cited.label)
  local url = cited.url or ''
  if type(cited.location) ~= 'table' and url:match('^https?://') then
    table.insert(parts, url)
  end
  table.insert(parts, cited.verified and '✓' or '(unverified)')
  return table.concat(parts, ' ')
end

--- The float's text for an ask's result: the answer without the bridge's markdown Sources
--- list, then one plain line per citation (`[1] httpx/_config.py:10-20 ✓`), numbered only
--- by its marker, with the label exactly as the server wrote it.
function M.answer_text(result)
  local answer = result.answer or ''
  local cut = answer:find(SOURCES_HEADING, 1, true)
  local body = vim.trim(cut and answer:sub(1, cut - 1) or answer)
  local lines = { body ~= '' and body or '(no answer)' }
  local citations = result.citations or {}
  if #citations > 0 then
    vim.list_extend(lines, { '', 'Sources:' })
  end
  for _, cited in ipairs(citations) do
    table.insert(lines, source_line(cited))
  end
  return table.concat(lines, '\n')
end

--- Fills a new quickfix list with the citations that point into files; returns how many.
function M.quickfix(title, citations)
  local items = {}
  for _, cited in ipairs(citations or {}) do
    local where = cited.location
    if type(where) == 'table' and where.uri then
      local text = cited.label .. (cited.verified and ' ✓' or ' (unverified)')
      if cited.marker and cited.marker ~= '' then
        text = cited.marker .. ' ' .. text
      end
      table.insert(items, {
        filename = vim.uri_to_fname(where.uri),
        lnum = where.range.start.line + 1,
        col = where.range.start.character + 1,
        text = text,
      })
    end
  end
  vim.fn.setqflist({}, ' ', { title = title, items = items })
  return #items
end

return M
