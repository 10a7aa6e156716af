// ZeroMQ (libzmq3-dev) for the msq Jupyter kernel's sockets.
#include <zmq.h>
