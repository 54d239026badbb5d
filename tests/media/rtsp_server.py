#!/usr/bin/python3
"""A small RTSP server for the tests: GStreamer's RTSP server library serving one H.264 file on loopback.

    rtsp_server.py CLIP [--port N] [--path NAME]
    rtsp_server.py --check

Serves CLIP (H.264 in .mp4/.mov or .mkv) at rtsp://127.0.0.1:PORT/NAME without re-encoding (demux ! h264parse !
rtph264pay), over RTP/UDP or RTP interleaved in the RTSP TCP connection, whichever the client asks for. Each client
gets its own session that plays the file once from its start, in real time (no looping: a concat of repeated
branches deadlocks the media's preroll in GStreamer 1.22, so tests that need a long stream make a long clip). Port 0 (the default) lets the kernel choose a free port. Once listening it prints one line,
"READY rtsp://127.0.0.1:PORT/NAME", on stdout. SIGTERM or SIGINT stops it with exit status 0.
--check exits with 0 when everything needed is installed, else prints what is missing and exits with 3.
Exit status 4: the port is taken.
"""
import argparse
import os
import signal
import sys

# Elements the served pipeline needs; the RTSP server itself adds rtpbin, udpsrc/udpsink, appsink/appsrc and funnel.
ELEMENTS = ["filesrc", "qtdemux", "matroskademux", "h264parse", "rtph264pay", "rtpbin", "udpsrc",
            "udpsink", "appsink", "appsrc", "funnel"]


def load():
    """GLib, GstRtsp and GstRtspServer, or an exception naming what is missing."""
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    Gst.init(None)
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        raise RuntimeError("GStreamer elements missing: " + ", ".join(missing))
    return GLib, GstRtsp, GstRtspServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="live")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    try:
        GLib, GstRtsp, GstRtspServer = load()
    except (ImportError, ValueError, RuntimeError) as e:  # ValueError: gi has no such typelib
        print(f"rtsp_server.py: {e} (scripts/install-deps.sh installs python3-gi, gir1.2-gst-rtsp-server-1.0 and "
              "the GStreamer plugins)", file=sys.stderr)
        return 3
    if args.check:
        return 0
    if not args.clip:
        parser.error("CLIP is required")

    demux = "matroskademux" if args.clip.endswith((".mkv", ".webm")) else "qtdemux"
    # gst-launch syntax quotes with double quotes and backslashes.
    location = '"' + os.path.abspath(args.clip).replace("\\", "\\\\").replace('"', '\\"') + '"'
    # config-interval=-1: SPS/PPS with every keyframe, so a client decodes from the first one it gets.
    launch = f"( filesrc location={location} ! {demux} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)  # each client its own pipeline, from the start of the file
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.get_mount_points().add_factory("/" + args.path, factory)
    loop = GLib.MainLoop()
    try:
        server.attach(None)  # binds and listens (with SO_REUSEADDR, so a restart can take the same port at once)
    except GLib.Error as e:
        print(f"rtsp_server.py: cannot listen on 127.0.0.1:{args.port}: {e.message}", file=sys.stderr)
        return 4
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
