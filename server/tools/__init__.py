"""Tools: what the chat agent, editors and scripts call on a project.

Built-ins (grep, open_file, keyword_search, search, find_symbol,
project_metadata), plugin tools (``projectqa_register_tools``) and script tools
(commands a project admin defines) share one catalog and one way of running.
"""
