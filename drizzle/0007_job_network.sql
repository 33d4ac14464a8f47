-- Trust boundary (docs/identity.md): a job is claimable by its tenant's and the operator's encoders only
-- (`private`, the default), or also by other tenants' and community encoders (`community`).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS network text NOT NULL DEFAULT 'private';
