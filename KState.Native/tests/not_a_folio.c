/* Must NOT compile: a folio field must be a struct folio *. */
#include <kstate.h>

struct a { int i; void *folio; };

static const struct kstate_field fields[] = {
    KSTATE_FOLIO(folio, struct a),
    KSTATE_END_OF_LIST()
};

int main(void) { return fields[0].kind; }
