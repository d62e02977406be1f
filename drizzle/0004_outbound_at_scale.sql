CREATE TABLE "batches" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"name" text,
	"status" text DEFAULT 'running' NOT NULL,
	"template" jsonb NOT NULL,
	"concurrency" integer,
	"webhook_url" text,
	"metadata" jsonb,
	"total_rows" integer NOT NULL,
	"accepted_rows" integer NOT NULL,
	"refused" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"paused_at" timestamp with time zone,
	"canceled_at" timestamp with time zone,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "do_not_call" (
	"account_id" uuid NOT NULL,
	"number" text NOT NULL,
	"source" text NOT NULL,
	"call_id" uuid,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "do_not_call_account_id_number_pk" PRIMARY KEY("account_id","number")
);
--> statement-breakpoint
CREATE TABLE "trunk_dials" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"call_id" uuid,
	"worker_id" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"done_at" timestamp with time zone
);
--> statement-breakpoint
DROP INDEX "calls_queue_idx";--> statement-breakpoint
DROP INDEX "webhook_deliveries_call_event_uq";--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ALTER COLUMN "call_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "call_window" jsonb;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "retry_policy" jsonb;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "batch_id" uuid;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "batch_row" integer;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "start_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "scheduled_for" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "call_window" jsonb;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "time_zones" jsonb;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "retry_policy" jsonb;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "attempt" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "attempts" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "opt_out" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "batch_id" uuid;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "attempt" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "batches" ADD CONSTRAINT "batches_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "do_not_call" ADD CONSTRAINT "do_not_call_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "batches_account_created_idx" ON "batches" USING btree ("account_id","created_at","id");--> statement-breakpoint
CREATE INDEX "trunk_dials_started_idx" ON "trunk_dials" USING btree ("started_at");--> statement-breakpoint
ALTER TABLE "calls" ADD CONSTRAINT "calls_batch_id_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."batches"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_batch_id_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."batches"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "calls_batch_idx" ON "calls" USING btree ("batch_id","batch_row") WHERE "calls"."batch_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_batch_event_uq" ON "webhook_deliveries" USING btree ("batch_id","event") WHERE "webhook_deliveries"."call_id" is null;--> statement-breakpoint
CREATE INDEX "calls_queue_idx" ON "calls" USING btree ("scheduled_for","created_at") WHERE "calls"."status" = 'queued' and "calls"."worker_id" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_call_event_uq" ON "webhook_deliveries" USING btree ("call_id","event","attempt");