/*
 * nodelay_shim.c: an LD_PRELOAD library for BENCHMARKS ONLY. It wraps accept() and accept4() and
 * sets TCP_NODELAY on every accepted socket, as Go's net/http (the reference's fake server) and
 * Python's asyncio (uvicorn, vLLM) do by default. `bench/run` preloads it into the fake engine,
 * whose HTTP server as built leaves Nagle's algorithm on, so that a keep-alive connection to it
 * (the worker's pooled one) stalls ~40 ms per answer on delayed ACKs — an artefact of the fake
 * engine, not of the network under test. Build: cc -shared -fPIC -O2 -o nodelay_shim.so
 * nodelay_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static void set_nodelay(int fd) {
    if (fd >= 0) {
        int one = 1;
        /* Fails harmlessly (ENOTSUP/ENOPROTOOPT) on non-TCP sockets. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

int accept(int sockfd, struct sockaddr *addr, socklen_t *addrlen) {
    static accept_fn real_accept;
    if (!real_accept) {
        real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
    }
    if (!real_accept) {
        return -1;
    }
    int fd = real_accept(sockfd, addr, addrlen);
    set_nodelay(fd);
    return fd;
}

int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags) {
    static accept4_fn real_accept4;
    if (!real_accept4) {
        real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    }
    if (!real_accept4) {
        return -1;
    }
    int fd = real_accept4(sockfd, addr, addrlen, flags);
    set_nodelay(fd);
    return fd;
}
