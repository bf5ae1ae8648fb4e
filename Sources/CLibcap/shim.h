// shim.h: libcap's <sys/capability.h> (Debian libcap-dev) and prctl, for dropping privileges in denalid.
#include <sys/capability.h>
#include <sys/prctl.h>

/** prctl(PR_SET_NO_NEW_PRIVS, 1): prctl is variadic, which Swift cannot call. Returns 0 or -1 with errno. */
static inline int clibcap_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

/** prctl(PR_GET_NO_NEW_PRIVS): 1 when set, 0 when not, -1 on error. */
static inline int clibcap_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }
