//! `paks serve` under hostile and slow clients: a real server on 127.0.0.1:0 (in-process,
//! on its own runtime with a small blocking pool) and real raw TCP sockets that stall.

mod support;

mod limits;
mod passwords;
mod slow_clients;
