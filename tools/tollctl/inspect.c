// SPDX-License-Identifier: Apache-2.0
/*
 * Shared by the inspector commands; see inspect.h.
 */
#include "inspect.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kern/kern.h"
#include "tollctl.h"
#include "tollgate/limits.h"

bool ctl_inspect_opt(struct ctl_inspect *ci, int opt, const char *arg)
{
	switch (opt) {
	case CTL_INSPECT_OPT_PIN_DIR:
		ci->pin_dir = arg;
		return true;
	case 'c':
		ci->policy_path = arg;
		return true;
	default:
		return false;
	}
}

int ctl_inspect_load_policy(struct ctl_inspect *ci, const char *cmd)
{
	struct policy_diags diags;
	int ret = CTL_EXIT_OK;

	if (!ci->policy_path || ci->policy)
		return CTL_EXIT_OK;
	policy_diags_init(&diags);
	errno = 0;
	ci->policy = policy_load_file(ci->policy_path, POLICY_LOAD_DEFAULT, &diags);
	if (!ci->policy) {
		if (diags.n)
			ret = ctl_error("%s: %s:%u:%u: %s%s", cmd, diags.v[0].file,
					diags.v[0].line, diags.v[0].col, diags.v[0].msg,
					diags.n > 1 ? " (and more: tollctl policy check)" : "");
		else
			ret = ctl_error("%s: %s: %s", cmd, ci->policy_path,
					strerror(errno ? errno : EINVAL));
	}
	policy_diags_fini(&diags);
	return ret;
}

int ctl_inspect_open(struct ctl_inspect *ci, const char *cmd)
{
	char err[512];
	int ret;

	ret = ctl_inspect_load_policy(ci, cmd);
	if (ret)
		return ret;
	kern_log_init();
	ci->maps = kern_maps_open(ci->pin_dir, err, sizeof(err));
	if (!ci->maps)
		return ctl_error("%s: %s", cmd, err);
	return CTL_EXIT_OK;
}

void ctl_inspect_close(struct ctl_inspect *ci)
{
	kern_maps_close(ci->maps);
	ci->maps = NULL;
	policy_unref(ci->policy);
	ci->policy = NULL;
}

uint32_t ctl_policy_tenant_ids(const struct ctl_inspect *ci)
{
	return ci->policy ? ci->policy->n_tenants + 1 : 0;
}

const char *ctl_tenant_name(const struct ctl_inspect *ci, uint32_t id,
			    char *buf, size_t size)
{
	if (ci->policy) {
		if (id == TG_TENANT_NONE)
			return ci->policy->default_tenant ? ci->policy->default_tenant :
			       "default";
		if (id > ci->policy->n_tenants)
			return NULL;
		return ci->policy->tenants[id - 1].name;
	}
	if (ci->maps && !kern_tenant_name_read(ci->maps, id, buf, size))
		return buf;
	return NULL;
}

const char *ctl_tenant_label(const struct ctl_inspect *ci, uint32_t id,
			     char *buf, size_t size)
{
	const char *name = ctl_tenant_name(ci, id, buf, size);

	if (name)
		return name;
	snprintf(buf, size, "%" PRIu32, id);
	return buf;
}

void ctl_json_tenant(const struct ctl_inspect *ci, uint32_t id)
{
	char buf[TG_NAME_MAX + 1];
	const char *name = ctl_tenant_name(ci, id, buf, sizeof(buf));

	jsonw_uint_field(ctl_jw, "tenant_id", id);
	if (name)
		jsonw_string_field(ctl_jw, "tenant", name);
	else
		jsonw_null_field(ctl_jw, "tenant");
}

int ctl_tenant_parse(const struct ctl_inspect *ci, const char *text, uint32_t *id)
{
	char buf[TG_NAME_MAX + 1];
	uint32_t i, slots;
	uint64_t v;

	if (!ctl_parse_u64(text, UINT32_MAX, &v)) {
		*id = (uint32_t)v;
		return 0;
	}
	if (ci->policy) {
		for (i = 0; i < ci->policy->n_tenants; i++) {
			if (!strcmp(ci->policy->tenants[i].name, text)) {
				*id = i + 1;
				return 0;
			}
		}
		if (ci->policy->default_tenant &&
		    !strcmp(ci->policy->default_tenant, text)) {
			*id = TG_TENANT_NONE;
			return 0;
		}
	} else if (ci->maps) {
		slots = kern_maps_max_entries(ci->maps, KERN_MAP_NAMES);
		for (i = 1; i < slots; i++) {
			if (!kern_tenant_name_read(ci->maps, i, buf, sizeof(buf)) &&
			    !strcmp(buf, text)) {
				*id = i;
				return 0;
			}
		}
	}
	if (!strcmp(text, "default")) {
		*id = TG_TENANT_NONE;
		return 0;
	}
	return -ENOENT;
}

int ctl_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!text[0] || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int ctl_parse_duration_ns(const char *text, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {
		{ "", 1e9 }, { "s", 1e9 }, { "ms", 1e6 }, { "m", 60e9 },
		{ "h", 3600e9 }, { "d", 86400e9 },
	};
	double v;
	char *end;
	size_t i;

	if (!text[0] || !(text[0] == '.' || (text[0] >= '0' && text[0] <= '9')))
		return -EINVAL;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !isfinite(v) || v < 0)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		v *= units[i].scale;
		if (v >= 1.8e19)
			return -ERANGE;
		*ns = (uint64_t)v;
		return 0;
	}
	return -EINVAL;
}

const char *ctl_proto_name(uint8_t proto, char *buf, size_t size)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	default:
		snprintf(buf, size, "%u", proto);
		return buf;
	}
}
