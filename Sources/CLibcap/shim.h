// shim.h: libcap's <sys/capability.h> (Debian libcap-dev) and prctl, for dropping privileges in denalid.
#include <sys/capability.h>
#include <sys/prctl.h>
