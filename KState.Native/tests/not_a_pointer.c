/* Must NOT compile: a pointer field must be a pointer. */
#include <kstate.h>

struct a { int i; long value; };

static const struct kstate_field fields[] = {
    KSTATE_POINTER(value, struct a),
    KSTATE_END_OF_LIST()
};

int main(void) { return fields[0].kind; }
