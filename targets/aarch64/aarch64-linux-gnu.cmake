# aarch64-linux-gnu.cmake — CMake toolchain file for 64-bit Arm Linux with
# Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross. No -march: the
# build targets plain ARMv8-A, and the SDOT kernel rows carry their own
# target("arch=armv8.2-a+dotprod") and run only where the CPU reports
# HWCAP_ASIMDDP (runtime/ops/qgemm_dispatch.c). The programs run on an AArch64
# machine or under qemu-aarch64 (qemu-user): see targets/aarch64/CMakeLists.txt.
#   cmake -S targets/aarch64 -B build-a64 --toolchain targets/aarch64/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_AR aarch64-linux-gnu-ar)
set(CMAKE_RANLIB aarch64-linux-gnu-ranlib)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Static programs: qemu-aarch64 runs them without an arm64 sysroot (no -L).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
