/* Must NOT compile: the field macros check the member's type, as the kernel's do. */
#include <kstate.h>

struct a { int i; long l; };

static const struct kstate_field fields[] = {
    KSTATE_BASE_TYPE(l, struct a, int),   /* l is a long */
    KSTATE_END_OF_LIST()
};

int main(void) { return fields[0].kind; }
