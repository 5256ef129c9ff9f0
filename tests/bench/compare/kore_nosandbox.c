/*
 * kore_nosandbox - added to the kore_hello module by tests/bench/compare.sh
 * (copied into the temporary app's src/ before `kodev build`), for the
 * callgrind runs only. Kore's worker installs a seccomp filter that kills it
 * on valgrind's own system calls; with KORE_HELLO_NO_SANDBOX set in the
 * environment, this hook puts an allow-everything rule in front of Kore's
 * list. Without the variable it adds nothing and the sandbox is Kore's own.
 */
#include <stdlib.h>

#include <kore/kore.h>
#include <kore/seccomp.h>

void	kore_seccomp_hook(void);

static struct sock_filter allow_all[] = {
	BPF_STMT(BPF_RET + BPF_K, SECCOMP_RET_ALLOW),
};

void
kore_seccomp_hook(void)
{
	if (getenv("KORE_HELLO_NO_SANDBOX") != NULL)
		kore_seccomp_filter("bench-no-sandbox", allow_all,
		    KORE_FILTER_LEN(allow_all));
}
