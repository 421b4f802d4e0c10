// SPDX-License-Identifier: GPL-2.0
// Test probe for labkit.ebpf_rdma's Molecule verify step: a CO-RE kprobe on
// ib_modify_qp_with_udata (module ib_core) that counts calls per QP state
// requested (attr->qp_state when IB_QP_STATE is in attr_mask).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_STATES 16

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_STATES + 1);  /* [state] counts, [MAX_STATES] = all calls */
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

static __always_inline void bump(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&calls, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("kprobe/ib_modify_qp_with_udata")
int BPF_KPROBE(on_modify_qp, struct ib_qp *qp, struct ib_qp_attr *attr, int attr_mask)
{
	bump(MAX_STATES);
	if (attr_mask & IB_QP_STATE) {
		__u32 state = BPF_CORE_READ(attr, qp_state);
		if (state < MAX_STATES)
			bump(state);
	}
	return 0;
}
