-- Defines :ProjectQAAsk, :ProjectQAExplain and :ProjectQAStatus; they work with the defaults.
-- Call require('projectqa').setup{…} to configure and start the bridge for workspace files.
if vim.g.loaded_projectqa then
  return
end
vim.g.loaded_projectqa = true
if vim.fn.has('nvim-0.7') == 0 then
  vim.api.nvim_err_writeln('projectqa.nvim needs Neovim 0.7 or newer')
  return
end
require('projectqa').create_commands()
