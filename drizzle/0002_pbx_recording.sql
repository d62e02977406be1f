ALTER TABLE "calls" ADD COLUMN "pbx_recording" text;--> statement-breakpoint
CREATE INDEX "calls_pbx_recording_idx" ON "calls" USING btree ("id") WHERE "calls"."pbx_recording" is not null;