/* mjpeg-feed: an MJPEG "camera" for the device lab.
 *
 * Sets the output format of a v4l2loopback device to MJPG WxH, then write()s the given JPEG files
 * (one write per frame, so each file is one frame, corrupt ones included) in a loop at a fixed
 * frame rate. Built statically by scripts/devlab.sh setup ($LAB_MJPEG_FEED in the guest).
 *
 *   mjpeg-feed [-d /dev/video10] [-r FPS] [-s WxH] [-n FRAMES] [-R READY_FILE] [-P PHASE_FILE] FILE.jpg...
 *
 *   -n FRAMES     stop after FRAMES frames (default 0: loop until SIGTERM/SIGINT)
 *   -R FILE       create FILE once the first frame has been written (synchronise with files)
 *   -P FILE       a recorded scene in phases: only files whose name starts with the word in FILE
 *                 are played (in a loop); rewrite FILE to move to another phase (read each frame)
 *
 * Exit status: 0 after -n frames or on SIGTERM/SIGINT, 1 on any error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct frame {
    unsigned char *data;
    size_t len;
    const char *name;
};

static int xioctl(int fd, unsigned long req, void *arg) {
    int r;
    do r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

static int load(const char *path, struct frame *f) {
    FILE *fp = fopen(path, "rb");
    if (!fp) { fprintf(stderr, "mjpeg-feed: %s: %s\n", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fileno(fp), &st) < 0 || st.st_size <= 0) {
        fprintf(stderr, "mjpeg-feed: %s: empty or unreadable\n", path);
        fclose(fp);
        return -1;
    }
    f->len = (size_t)st.st_size;
    f->data = malloc(f->len);
    f->name = path;
    if (!f->data || fread(f->data, 1, f->len, fp) != f->len) {
        fprintf(stderr, "mjpeg-feed: %s: read failed\n", path);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    return 0;
}

/* Does the file's base name start with `prefix`? */
static int in_phase(const struct frame *f, const char *prefix) {
    const char *base = strrchr(f->name, '/');
    base = base ? base + 1 : f->name;
    return strncmp(base, prefix, strlen(prefix)) == 0;
}

/* Re-reads the phase word when PHASE_FILE changed; returns 0, or -1 when it cannot be read. */
static int read_phase(const char *path, struct timespec *seen, char *phase, size_t size) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (st.st_mtim.tv_sec == seen->tv_sec && st.st_mtim.tv_nsec == seen->tv_nsec) return 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    if (!fgets(phase, (int)size, fp)) phase[0] = 0;
    fclose(fp);
    phase[strcspn(phase, " \r\n")] = 0;
    *seen = st.st_mtim;
    fprintf(stderr, "mjpeg-feed: phase %s\n", phase);
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: mjpeg-feed [-d DEV] [-r FPS] [-s WxH] [-n FRAMES] [-R READY_FILE] [-P PHASE_FILE] FILE.jpg...\n");
    exit(1);
}

int main(int argc, char **argv) {
    const char *dev = "/dev/video10", *ready = NULL, *phase_file = NULL;
    char phase[64] = "";
    struct timespec phase_seen = {0, 0};
    double fps = 25.0;
    unsigned w = 640, h = 480;
    long max_frames = 0;
    int opt;
    while ((opt = getopt(argc, argv, "d:r:s:n:R:P:h")) != -1) {
        switch (opt) {
        case 'd': dev = optarg; break;
        case 'r': fps = atof(optarg); break;
        case 's': if (sscanf(optarg, "%ux%u", &w, &h) != 2) usage(); break;
        case 'n': max_frames = atol(optarg); break;
        case 'R': ready = optarg; break;
        case 'P': phase_file = optarg; break;
        default: usage();
        }
    }
    if (optind >= argc || fps <= 0 || w == 0 || h == 0) usage();
    int nframes = argc - optind;
    struct frame *frames = calloc((size_t)nframes, sizeof *frames);
    size_t maxlen = 0;
    for (int i = 0; i < nframes; i++) {
        if (load(argv[optind + i], &frames[i]) < 0) return 1;
        if (frames[i].len > maxlen) maxlen = frames[i].len;
    }

    int fd = open(dev, O_RDWR);
    if (fd < 0) { fprintf(stderr, "mjpeg-feed: open %s: %s\n", dev, strerror(errno)); return 1; }

    struct v4l2_format fmt;
    memset(&fmt, 0, sizeof fmt);
    fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
    fmt.fmt.pix.width = w;
    fmt.fmt.pix.height = h;
    fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_MJPEG;
    fmt.fmt.pix.field = V4L2_FIELD_NONE;
    fmt.fmt.pix.sizeimage = (unsigned)(maxlen > (size_t)w * h * 2 ? maxlen : (size_t)w * h * 2);
    fmt.fmt.pix.colorspace = V4L2_COLORSPACE_JPEG;
    if (xioctl(fd, VIDIOC_S_FMT, &fmt) < 0) {
        fprintf(stderr, "mjpeg-feed: VIDIOC_S_FMT MJPG %ux%u: %s\n", w, h, strerror(errno));
        return 1;
    }
    if (fmt.fmt.pix.pixelformat != V4L2_PIX_FMT_MJPEG || fmt.fmt.pix.width != w ||
        fmt.fmt.pix.height != h) {
        fprintf(stderr, "mjpeg-feed: driver chose %.4s %ux%u instead of MJPG %ux%u\n",
                (char *)&fmt.fmt.pix.pixelformat, fmt.fmt.pix.width, fmt.fmt.pix.height, w, h);
        return 1;
    }
    if (fmt.fmt.pix.sizeimage < maxlen) {
        fprintf(stderr, "mjpeg-feed: buffer size %u is smaller than the largest frame (%zu bytes)\n",
                fmt.fmt.pix.sizeimage, maxlen);
        return 1;
    }
    struct v4l2_streamparm parm;
    memset(&parm, 0, sizeof parm);
    parm.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
    parm.parm.output.timeperframe.numerator = 1000;
    parm.parm.output.timeperframe.denominator = (unsigned)(fps * 1000.0 + 0.5);
    if (xioctl(fd, VIDIOC_S_PARM, &parm) < 0)
        fprintf(stderr, "mjpeg-feed: VIDIOC_S_PARM (frame rate) failed: %s (continuing)\n",
                strerror(errno));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fprintf(stderr, "mjpeg-feed: %s MJPG %ux%u @ %.2f fps, %d file(s), sizeimage %u\n", dev, w, h,
            fps, nframes, fmt.fmt.pix.sizeimage);
    long period_ns = (long)(1e9 / fps);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long written = 0;
    for (int i = 0; !stop; i = (i + 1) % nframes) {
        if (phase_file) {
            if (read_phase(phase_file, &phase_seen, phase, sizeof phase) < 0) {
                fprintf(stderr, "mjpeg-feed: %s: %s\n", phase_file, strerror(errno));
                return 1;
            }
            int k = 0;
            while (k < nframes && !in_phase(&frames[(i + k) % nframes], phase)) k++;
            if (k == nframes) { fprintf(stderr, "mjpeg-feed: no file for phase '%s'\n", phase); return 1; }
            i = (i + k) % nframes;
        }
        ssize_t n = write(fd, frames[i].data, frames[i].len);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "mjpeg-feed: write %s: %s\n", frames[i].name, strerror(errno));
            return 1;
        }
        if ((size_t)n != frames[i].len)
            fprintf(stderr, "mjpeg-feed: short write of %s: %zd of %zu bytes\n", frames[i].name, n,
                    frames[i].len);
        written++;
        if (written == 1 && ready) {
            int rf = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (rf < 0) { fprintf(stderr, "mjpeg-feed: %s: %s\n", ready, strerror(errno)); return 1; }
            close(rf);
        }
        if (max_frames > 0 && written >= max_frames) break;
        next.tv_nsec += period_ns;
        while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR && !stop) {}
    }
    fprintf(stderr, "mjpeg-feed: wrote %ld frames\n", written);
    close(fd);
    return 0;
}
