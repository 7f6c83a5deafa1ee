// sustainml DNNU library: everything a generated DNNU top (dnnu.cpp) includes.
#ifndef SUSTAINML_DNNU_H
#define SUSTAINML_DNNU_H

#include "types.h"
#include "requant.h"
#include "multiply.h"
#include "layers/conv1d.h"
#include "layers/dwconv1d.h"
#include "layers/pwconv1d.h"
#include "layers/dense.h"
#include "layers/pool1d.h"
#include "io/dma.h"

#endif
