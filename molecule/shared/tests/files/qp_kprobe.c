// SPDX-License-Identifier: GPL-3.0-or-later
// Loads qp_kprobe.bpf.o, attaches it, prints "attached", waits for SIGTERM/SIGINT
// or N seconds, then prints "total=<calls> init=<n> rtr=<n> rts=<n>".
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static unsigned long long count(int fd, unsigned key)
{
	unsigned long long v = 0;
	bpf_map_lookup_elem(fd, &key, &v);
	return v;
}

int main(int argc, char **argv)
{
	const char *obj_path = argc > 1 ? argv[1] : "qp_kprobe.bpf.o";
	int seconds = argc > 2 ? atoi(argv[2]) : 60;
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj || libbpf_get_error(obj)) { fprintf(stderr, "open %s failed\n", obj_path); return 2; }
	if (bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 3; }
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "on_modify_qp");
	struct bpf_link *link = prog ? bpf_program__attach(prog) : NULL;
	if (!link || libbpf_get_error(link)) { fprintf(stderr, "attach failed\n"); return 4; }
	int fd = bpf_object__find_map_fd_by_name(obj, "calls");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached\n");
	fflush(stdout);
	for (int i = 0; i < seconds * 10 && !stop; i++)
		usleep(100000);
	/* enum ib_qp_state: RESET 0, INIT 1, RTR 2, RTS 3 */
	printf("total=%llu init=%llu rtr=%llu rts=%llu\n",
	       count(fd, 16), count(fd, 1), count(fd, 2), count(fd, 3));
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
