-- The per-sandbox key that signs SDK 0.226's file URLs (created on first use).
ALTER TABLE sandboxes ADD COLUMN signing_key TEXT;
