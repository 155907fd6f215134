/*
 * aorta/aorta.h — the one header modules include.
 */
#ifndef AORTA_AORTA_H
#define AORTA_AORTA_H

#include "aorta/types.h"
#include "aorta/pool.h"
#include "aorta/log.h"
#include "aorta/conf.h"
#include "aorta/event.h"
#include "aorta/api.h"
#include "aorta/module.h"
#include "aorta/task.h"
#include "aorta/core.h"

#endif
