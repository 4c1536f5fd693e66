-- The owner a linked (follower) sandbox is tied to; deleting the owner deletes its followers.
ALTER TABLE sandboxes ADD COLUMN linked_sandbox_id TEXT;
CREATE INDEX sandboxes_linked_sandbox_id ON sandboxes (linked_sandbox_id);
