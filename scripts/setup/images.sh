#!/bin/sh
# The stack's real images for tests/stack/test_images.py (scripts/images/build.sh,
# docs/images.md). Idempotent: about a second once the tars are in the cache.
# On a fresh machine the build (6-8 min on 2 cores) runs in the background at
# nice 19, as k8s.sh's does: the suite keeps the CPU, the image tests run last
# and wait for what is left of the build (bounded, OPSCTL_IMAGES_BUILD_WAIT).
exec "$(dirname "$0")/../images/build.sh" --background
