/* Must NOT compile: KHOSER_STORE_PTR checks the value against the member's type, as the kernel's does. */
#include <kstate.h>

struct a { int i; };
struct b { long l; };
struct holder { DECLARE_KHOSER_PTR(p, struct a *); };

int main(void)
{
    static struct b other;
    struct holder h;
    KHOSER_STORE_PTR(h.p, &other);   /* a struct b * into a struct a * member */
    return (int)h.p.phys;
}
