/* Must NOT compile: a preserved array's count member must be an integer, not a pointer. */
#include <kstate.h>

struct e { int x; };
extern const struct kstate_description e_state;
struct a { struct e *items; unsigned long *count; };

static const struct kstate_field fields[] = {
    KSTATE_PRESERVED_ARRAY(items, struct a, &e_state, count),
    KSTATE_END_OF_LIST()
};

int main(void) { return fields[0].kind; }
