-- Named, versioned ladder presets per tenant (issue #17): `ladder: "preset:<name>"` in a job spec
-- resolves to the latest version's options at submit. Each PUT adds a version; DELETE drops them all.
CREATE TABLE IF NOT EXISTS ladder_presets (
  tenant text NOT NULL,
  name text NOT NULL,
  version integer NOT NULL,
  options jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, name, version)
);
