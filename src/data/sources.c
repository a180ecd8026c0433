/* sources.c: the data-source table. Row i is data.source value i, row 0 the default. Each row is
 * defined at the end of its family's file (see data_impl.h for the fields); adding a source is
 * that file (or a row in an existing family's file) and one line here. */
#include "data_impl.h"

/* The rows in data.source order, each with the file that defines it (EOS_TABLE: eos_common.h). */
#define SOURCES(X, T)                                                                              \
    X(T, eos_data_source_fashion_mnist)    /* idx.c */                                             \
    X(T, eos_data_source_mnist_idx)        /* idx.c */                                             \
    X(T, eos_data_source_cifar10)          /* cifar.c */                                           \
    X(T, eos_data_source_hdf5)             /* hdf5.c */                                            \
    X(T, eos_data_source_synthetic_linear) /* synthetic.c */                                       \
    X(T, eos_data_source_teacher_student)  /* synthetic.c */                                       \
    X(T, eos_data_source_icl_regression)   /* in_context.c */                                      \
    X(T, eos_data_source_separable)        /* separable.c */                                       \
    X(T, eos_data_source_xor_clusters)     /* separable.c */
EOS_TABLE(eos_data_source, sources, SOURCES);
#define N_SOURCES ((int)(sizeof sources / sizeof *sources))

const char *eos_data_source_name(int i) { return i >= 0 && i < N_SOURCES ? sources[i]->name : NULL; }

const eos_data_source *eos_data_source_of(const eos_config *cfg)
{
    int i = cfg->data.source;
    return i >= 0 && i < N_SOURCES ? sources[i] : NULL;
}
