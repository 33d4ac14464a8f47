DROP INDEX "jobs_claimable_idx";--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "rank_infrastructure" smallint GENERATED ALWAYS AS (coalesce(array_position(preferred_kinds, 'infrastructure'::text), 9)) STORED NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "rank_community" smallint GENERATED ALWAYS AS (coalesce(array_position(preferred_kinds, 'community'::text), 9)) STORED NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "rank_desktop" smallint GENERATED ALWAYS AS (coalesce(array_position(preferred_kinds, 'desktop'::text), 9)) STORED NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "rank_browser" smallint GENERATED ALWAYS AS (coalesce(array_position(preferred_kinds, 'browser'::text), 9)) STORED NOT NULL;--> statement-breakpoint
CREATE INDEX "jobs_claim_infrastructure_idx" ON "jobs" USING btree ("weight" DESC NULLS LAST,"rank_infrastructure","created_at","id") WHERE status IN ('queued', 'failed');--> statement-breakpoint
CREATE INDEX "jobs_claim_community_idx" ON "jobs" USING btree ("weight" DESC NULLS LAST,"rank_community","created_at","id") WHERE status IN ('queued', 'failed');--> statement-breakpoint
CREATE INDEX "jobs_claim_desktop_idx" ON "jobs" USING btree ("weight" DESC NULLS LAST,"rank_desktop","created_at","id") WHERE status IN ('queued', 'failed');--> statement-breakpoint
CREATE INDEX "jobs_claim_browser_idx" ON "jobs" USING btree ("weight" DESC NULLS LAST,"rank_browser","created_at","id") WHERE status IN ('queued', 'failed');