-- What differs between Neovim versions (0.7.2 and newer), and the one way messages are shown.

local M = {}

function M.request(client, method, params, handler)
  if vim.fn.has('nvim-0.11') == 1 then -- client methods take `self` from 0.11
    return client:request(method, params, handler)
  end
  return client.request(method, params, handler)
end

function M.cancel(client, request_id)
  if vim.fn.has('nvim-0.11') == 1 then
    return client:cancel_request(request_id)
  end
  return client.cancel_request(request_id)
end

-- One "ProjectQA: " prefix, also for messages that bring their own (the bridge's
-- window/showMessage, an older bridge's errors).
function M.notify(message, level)
  vim.notify('ProjectQA: ' .. tostring(message):gsub('^ProjectQA: ', ''), level)
end

-- window/showMessage's MessageType -> vim.log.levels
M.MESSAGE_LEVELS = {
  [1] = vim.log.levels.ERROR,
  [2] = vim.log.levels.WARN,
  [3] = vim.log.levels.INFO,
  [4] = vim.log.levels.DEBUG,
}

return M
