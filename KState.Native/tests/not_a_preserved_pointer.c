/* Must NOT compile: a preserved struct's member must be a pointer. */
#include <kstate.h>

struct e { int x; };
extern const struct kstate_description e_state;
struct a { struct e one; };

static const struct kstate_field fields[] = {
    KSTATE_PRESERVED_STRUCT(one, struct a, &e_state),
    KSTATE_END_OF_LIST()
};

int main(void) { return fields[0].kind; }
