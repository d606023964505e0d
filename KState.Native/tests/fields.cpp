// Must compile as C++ (C++11 to C++20, -Wall -Wextra -Werror -pedantic): every field macro on members of the right
// type. The counterpart of wrong_type.c, not_a_folio.c and not_a_pointer.c, which must not compile as C++ either.
#include <kstate.h>

struct inner { int x; };
extern const kstate_description inner_state;

struct a {
    int i;
    const long c;
    unsigned long *p_ulong;
    char s[10];
    struct folio *folio;
    struct inner in;
    long *kho;
    struct inner *many;
    const unsigned short n;
    struct inner *one;
};

static int save_c(struct kstate_stream *, void *, const struct kstate_field *) { return 0; }
static int restore_c(struct kstate_stream *, void *, const struct kstate_field *) { return 0; }

static const kstate_field inner_fields[] = {
    KSTATE_BASE_TYPE(x, struct inner, int),
    KSTATE_END_OF_LIST(),
};
const kstate_description inner_state = {"inner", 2, 1, 1, inner_fields, nullptr, nullptr, nullptr, nullptr};

static const kstate_field fields[] = {
    KSTATE_BASE_TYPE(i, struct a, int),
    KSTATE_BASE_TYPE_V(c, struct a, long, 2),
    KSTATE_BASE_TYPE(s, struct a, char[10]),
    KSTATE_BASE_TYPE_DEPRECATED(gone, short, 1),
    KSTATE_POINTER(p_ulong, struct a),
    KSTATE_POINTER_V(p_ulong, struct a, 2),
    KSTATE_POINTER_ARRAY(p_ulong, struct a, 4),
    KSTATE_FOLIO(folio, struct a),
    KSTATE_KHO_POINTER(kho, struct a),
    KSTATE_STRUCT(in, struct a, &inner_state),
    KSTATE_CUSTOM(i, struct a, save_c, restore_c),
    KSTATE_PRESERVED_ARRAY(many, struct a, &inner_state, n),
    KSTATE_PRESERVED_ARRAY_TRUSTED(many, struct a, &inner_state, n),
    KSTATE_PRESERVED_STRUCT(one, struct a, &inner_state),
    KSTATE_PRESERVED_STRUCT_TRUSTED(one, struct a, &inner_state),
    KSTATE_END_OF_LIST(),
};

// The same values C's designated initializers give.
static_assert(sizeof(fields) / sizeof(fields[0]) == 16, "one entry per macro");

int main()
{
    return fields[0].kind == KS_BASE_TYPE && fields[0].offset == offsetof(struct a, i) && fields[2].size == 10 &&
                   fields[4].size == sizeof(unsigned long) && fields[6].count == 4 && fields[9].ksd == &inner_state &&
                   fields[10].save == save_c && fields[15].kind == KS_END && fields[1].version_id == 2 &&
                   fields[11].kind == KS_PRESERVED_ARRAY && fields[12].kind == (KS_PRESERVED_ARRAY | KS_TRUSTED) &&
                   fields[11].count == ((offsetof(struct a, n) << 8) | sizeof(unsigned short)) && fields[11].size == sizeof(struct inner) &&
                   fields[13].kind == KS_PRESERVED_STRUCT && fields[14].kind == (KS_PRESERVED_STRUCT | KS_TRUSTED) && fields[13].count == 1 &&
                   fields[13].ksd == &inner_state
               ? 0
               : 1;
}
