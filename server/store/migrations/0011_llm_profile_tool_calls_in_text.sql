-- Whether tool calls the model writes as text after some prose are taken as calls
-- (llm/textual_calls.py); profiles stored before take only content that is a call.
ALTER TABLE llm_profiles ADD COLUMN tool_calls_in_text INTEGER NOT NULL DEFAULT 0;
