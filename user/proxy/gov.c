// SPDX-License-Identifier: Apache-2.0
/*
 * What the proxy keeps for governance across workers: the budget engine
 * (limits, budgets, their state file), the audit log, and the kernel's
 * pinned maps where the datapath is attached — an over-budget tenant is
 * blocked there and a source that keeps failing authentication goes into
 * the penalty box.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "kern/maps.h"
#include "llm/budget.h"
#include "obs/audit.h"
#include "proxy/internal.h"

/* Tenant ids in the kernel are the policy's tenant index + 1 (kern/sync.h). */
static uint32_t tenant_id(struct proxy *px, const char *name)
{
	const struct policy_tenant *t;
	uint32_t id;

	pthread_mutex_lock(&px->lock);
	t = policy_tenant_find(px->cfg->policy, name);
	id = t ? (uint32_t)(t - px->cfg->policy->tenants) + 1 : 0;
	pthread_mutex_unlock(&px->lock);
	return id;
}

static void hook_blocked(void *ctx, const char *tenant, uint64_t until_ns)
{
	struct proxy *px = ctx;
	uint32_t id = tenant_id(px, tenant);
	int err = px->kmaps && id ? kern_tenant_set_blocked(px->kmaps, id, true) : -ENODEV;

	log_warn("tenant %s spent a blocking budget: refused until %llu (epoch s); %s", tenant,
		 (unsigned long long)(until_ns / 1000000000ull),
		 err ? "only the gateway refuses (kernel datapath not attached)" :
		 "its new connections are dropped in the kernel");
}

static void hook_unblocked(void *ctx, const char *tenant)
{
	struct proxy *px = ctx;
	uint32_t id = tenant_id(px, tenant);

	if (px->kmaps && id)
		kern_tenant_set_blocked(px->kmaps, id, false);
	log_info("tenant %s: budget window refilled; unblocked", tenant);
}

static void hook_penalty(void *ctx, const struct policy_cidr *a, uint64_t duration_ns)
{
	struct proxy *px = ctx;
	struct tg_src_key k = { 0 };
	char text[64];

	k.family = a->family == 4 ? TG_FAMILY_IPV4 : TG_FAMILY_IPV6;
	memcpy(k.addr, a->addr, a->family == 4 ? 4 : 16);
	kern_addr_format(k.family, k.addr, text, sizeof(text));
	if (px->kmaps && !kern_penalty_add(px->kmaps, &k, duration_ns))
		log_warn("source %s failed authentication repeatedly: in the penalty box for %llu s",
			 text, (unsigned long long)(duration_ns / 1000000000ull));
	else
		log_warn("source %s failed authentication repeatedly (kernel datapath not attached: "
			 "no penalty box)", text);
}

int gov_open(struct proxy *px, char *err, size_t errlen)
{
	struct policy *p = px->cfg->policy;
	struct budget_hooks hooks = {
		.tenant_blocked = hook_blocked, .tenant_unblocked = hook_unblocked,
		.penalty = hook_penalty, .ctx = px,
	};
	char why[256] = "";

	px->kmaps = kern_maps_open(p->kernel.pin_path, why, sizeof(why));
	if (px->kmaps)
		log_info("kernel datapath found at %s: over-budget tenants and the penalty box are "
			 "enforced there", kern_maps_dir(px->kmaps));
	else
		log_info("kernel datapath not attached (%s): budgets are enforced by the gateway only",
			 why);
	px->budget = budget_open(p, p->server.state_file, &hooks, budget_now());
	if (!px->budget) {
		snprintf(err, errlen, "budgets: %s", strerror(errno));
		return -errno;
	}
	if (p->telemetry.audit.enabled) {
		px->audit = audit_log_open(&p->telemetry.audit);
		if (!px->audit) {
			snprintf(err, errlen, "audit log %s: %s", p->telemetry.audit.path,
				 strerror(errno));
			return -errno;
		}
	}
	px->last_persist_ms = proxy_now_ms();
	return 0;
}

int gov_reload(struct proxy *px, struct policy *p, char *err, size_t errlen)
{
	int ret = budget_reload(px->budget, p, budget_now());

	if (ret) {
		snprintf(err, errlen, "budgets: %s", strerror(-ret));
		return ret;
	}
	if (p->telemetry.audit.enabled) {
		if (px->audit)
			ret = audit_log_reopen(px->audit, p->telemetry.audit.path);
		else if (!(px->audit = audit_log_open(&p->telemetry.audit)))
			ret = -errno;
		if (ret)
			log_error("audit log %s: %s; audit lines go to the previous file",
				  p->telemetry.audit.path, strerror(-ret));
	}
	return 0;
}

void proxy_tick(struct proxy *px)
{
	uint64_t now = proxy_now_ms();

	if (!px->budget)
		return;
	budget_tick(px->budget, budget_now());
	if (now - px->last_persist_ms >= TG_BUDGET_PERSIST_MS) {
		px->last_persist_ms = now;
		budget_persist(px->budget);
	}
}

void gov_close(struct proxy *px)
{
	if (px->budget) {
		budget_persist(px->budget);
		budget_free(px->budget);
		px->budget = NULL;
	}
	audit_log_close(px->audit);
	px->audit = NULL;
	kern_maps_close(px->kmaps);
	px->kmaps = NULL;
}
