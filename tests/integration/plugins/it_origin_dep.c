/*
 * it_origin_dep.c - a library that a plugin finds beside itself through
 * an $ORIGIN run path (libit_origin_dep.so, with a soname).
 */
__attribute__((visibility("default"))) const char *it_origin_dep_answer(void)
{
    return "from the library beside it";
}
