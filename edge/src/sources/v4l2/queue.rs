//! The capture buffer queue, owned here rather than taken from `v4l::io::mmap::Stream`.
//!
//! The crate's stream (0.14) hands out whole buffers instead of `bytesused`, re-queues a buffer the
//! kernel still owns after a poll timeout, panics in `Drop` when STREAMOFF fails on anything but
//! ENODEV, and has no way to skip to the newest frame (`../shared/notes/devices.md`). A mirror
//! that runs for months and survives unplugs needs all four, so this module tracks buffer
//! ownership itself on top of the crate's raw `ioctl`/`mmap` wrappers.

use std::io;
use std::os::raw::{c_int, c_void};
use std::time::Duration;

use v4l::v4l_sys::{v4l2_buffer, v4l2_requestbuffers};
use v4l::v4l2::{self, vidioc};

const CAPTURE: u32 = v4l::buffer::Type::VideoCapture as u32;
const MMAP: u32 = v4l::memory::Memory::Mmap as u32;
/// `V4L2_BUF_FLAG_ERROR`: the driver says the data may be corrupt.
const FLAG_ERROR: u32 = 0x0040;

/// How dequeuing went wrong.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The device is gone (ENODEV, POLLHUP/POLLERR): reopen it.
    #[error("the camera was disconnected ({0})")]
    Disconnected(String),
    /// No frame within the timeout.
    #[error("no frame for {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A dequeued buffer: the frame's bytes stay valid until [`BufferQueue::requeue`].
#[derive(Debug, Clone, Copy)]
pub struct Dequeued {
    pub index: usize,
    pub bytesused: usize,
    /// CLOCK_MONOTONIC time the driver stamped the frame with.
    pub timestamp: Duration,
    /// The driver flagged the buffer as bad.
    pub error: bool,
    /// Older frames that were waiting and were skipped to reach this, the newest.
    pub skipped: u32,
}

struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

/// mmap buffers of one streaming capture device. `fd` is borrowed: the owner closes it after
/// dropping the queue.
pub struct BufferQueue {
    fd: c_int,
    buffers: Vec<Mapping>,
    /// `true` while the kernel owns the buffer (queued); we only ever QBUF a buffer we hold.
    queued: Vec<bool>,
    streaming: bool,
}

// The mappings are plain shared memory owned by this queue; the queue moves between threads
// with its source but is never shared.
unsafe impl Send for BufferQueue {}

fn ioctl<T>(fd: c_int, request: vidioc::_IOC_TYPE, arg: &mut T) -> io::Result<()> {
    // SAFETY: `arg` is the structure the request is defined with (checked by the callers).
    unsafe { v4l2::ioctl(fd, request, arg as *mut T as *mut c_void) }
}

fn blank_buffer() -> v4l2_buffer {
    // SAFETY: v4l2_buffer is a plain C struct; all-zero is its documented initial state.
    let mut buf: v4l2_buffer = unsafe { std::mem::zeroed() };
    buf.type_ = CAPTURE;
    buf.memory = MMAP;
    buf
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::EIO) | Some(libc::ENOENT))
}

impl BufferQueue {
    /// Requests `count` buffers, maps and queues them all, and starts streaming.
    pub fn start(fd: c_int, count: u32) -> Result<BufferQueue, QueueError> {
        // SAFETY: zeroed is the documented initial state of v4l2_requestbuffers.
        let mut req: v4l2_requestbuffers = unsafe { std::mem::zeroed() };
        req.count = count;
        req.type_ = CAPTURE;
        req.memory = MMAP;
        ioctl(fd, vidioc::VIDIOC_REQBUFS, &mut req).map_err(classify)?;
        if req.count < 2 {
            return Err(QueueError::Io(io::Error::other(format!(
                "the driver granted {} capture buffers; at least 2 are needed",
                req.count
            ))));
        }
        let mut queue = BufferQueue { fd, buffers: Vec::new(), queued: Vec::new(), streaming: false };
        for index in 0..req.count {
            let mut buf = blank_buffer();
            buf.index = index;
            ioctl(fd, vidioc::VIDIOC_QUERYBUF, &mut buf).map_err(classify)?;
            let len = buf.length as usize;
            // SAFETY: offset is the union member the driver fills for MMAP buffers.
            let offset = unsafe { buf.m.offset } as libc::off_t;
            // SAFETY: maps the driver's buffer; unmapped in Drop.
            let ptr = unsafe {
                v4l2::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    offset,
                )
            }
            .map_err(classify)?;
            queue.buffers.push(Mapping { ptr, len });
            queue.queued.push(false);
        }
        for index in 0..queue.buffers.len() {
            queue.requeue(index)?;
        }
        let mut kind = CAPTURE as c_int;
        ioctl(fd, vidioc::VIDIOC_STREAMON, &mut kind).map_err(classify)?;
        queue.streaming = true;
        Ok(queue)
    }

    /// Waits up to `timeout` for a frame, then takes every frame that is ready and keeps only the
    /// newest (older ones go straight back to the driver): the mirror shows now, not a backlog.
    pub fn dequeue_newest(&mut self, timeout: Duration) -> Result<Dequeued, QueueError> {
        let mut pfd = libc::pollfd { fd: self.fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(i32::MAX as u128) as c_int) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Err(QueueError::Timeout(Duration::ZERO));
            }
            return Err(classify(e));
        }
        if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
            && pfd.revents & libc::POLLIN == 0
        {
            return Err(QueueError::Disconnected(format!("poll revents {:#x}", pfd.revents)));
        }
        if n == 0 {
            return Err(QueueError::Timeout(timeout));
        }
        let mut newest: Option<Dequeued> = None;
        let mut skipped = 0;
        loop {
            match self.dequeue_one() {
                Ok(d) => {
                    if let Some(old) = newest.replace(d) {
                        self.requeue(old.index)?;
                        skipped += 1;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                Err(e) => {
                    if let Some(old) = newest {
                        // Hand back what we hold before reporting; ignore a second failure.
                        let _ = self.requeue(old.index);
                    }
                    return Err(classify(e));
                }
            }
        }
        match newest {
            Some(d) => Ok(Dequeued { skipped, ..d }),
            // POLLIN without a buffer: a spurious wake-up; the caller just asks again.
            None => Err(QueueError::Timeout(Duration::ZERO)),
        }
    }

    fn dequeue_one(&mut self) -> io::Result<Dequeued> {
        let mut buf = blank_buffer();
        ioctl(self.fd, vidioc::VIDIOC_DQBUF, &mut buf)?;
        let index = buf.index as usize;
        if index >= self.buffers.len() {
            return Err(io::Error::other(format!(
                "driver returned buffer {index} of {}",
                self.buffers.len()
            )));
        }
        self.queued[index] = false;
        let timestamp =
            Duration::new(buf.timestamp.tv_sec.max(0) as u64, (buf.timestamp.tv_usec.max(0) as u32) * 1000);
        Ok(Dequeued {
            index,
            bytesused: (buf.bytesused as usize).min(self.buffers[index].len),
            timestamp,
            error: buf.flags & FLAG_ERROR != 0,
            skipped: 0,
        })
    }

    /// The bytes of a dequeued buffer, sliced to what the driver wrote (`bytesused`).
    pub fn data(&self, d: &Dequeued) -> &[u8] {
        let m = &self.buffers[d.index];
        debug_assert!(!self.queued[d.index], "reading a buffer the driver owns");
        // SAFETY: the mapping is `m.len` bytes, we hold the buffer (dequeued) and bytesused <= len.
        unsafe { std::slice::from_raw_parts(m.ptr as *const u8, d.bytesused) }
    }

    /// Gives a buffer back to the driver. Buffers the driver already holds are never queued twice.
    pub fn requeue(&mut self, index: usize) -> Result<(), QueueError> {
        if self.queued[index] {
            return Ok(());
        }
        let mut buf = blank_buffer();
        buf.index = index as u32;
        ioctl(self.fd, vidioc::VIDIOC_QBUF, &mut buf).map_err(classify)?;
        self.queued[index] = true;
        Ok(())
    }
}

impl Drop for BufferQueue {
    fn drop(&mut self) {
        // Errors are expected here after an unplug (ENODEV): nothing to do about them but go on.
        if self.streaming {
            let mut kind = CAPTURE as c_int;
            let _ = ioctl(self.fd, vidioc::VIDIOC_STREAMOFF, &mut kind);
        }
        for m in &self.buffers {
            // SAFETY: unmapping exactly what start() mapped.
            let _ = unsafe { v4l2::munmap(m.ptr, m.len) };
        }
        if !self.buffers.is_empty() {
            // SAFETY: zeroed is the documented initial state; count 0 frees the buffers.
            let mut req: v4l2_requestbuffers = unsafe { std::mem::zeroed() };
            req.type_ = CAPTURE;
            req.memory = MMAP;
            let _ = ioctl(self.fd, vidioc::VIDIOC_REQBUFS, &mut req);
        }
    }
}

/// Maps the errno of a failed call to "the device is gone" or a plain I/O error.
pub fn classify(e: io::Error) -> QueueError {
    if is_gone(&e) { QueueError::Disconnected(e.to_string()) } else { QueueError::Io(e) }
}
