#!/usr/bin/env python3
"""Lift a video, or 2D keypoint files (Detectron2/upstream npz, MMPose, COCO, AlphaPose, OpenPose JSON, CSV), to 3D poses (npz, json, csv, bvh).

    python vp3d_lift.py clip.mp4 -m pretrained_h36m_detectron_coco.bin -o clip.npz --render clip_3d.mp4
    python vp3d_lift.py clip.mp4 -m model.onnx --stream > poses.jsonl          # live, as frames are decoded
    python vp3d_lift.py data_2d_custom_myvideos.npz -m pretrained_h36m_detectron_coco.bin -o poses.npz
    python vp3d_lift.py clip.json --image-size 1920x1080 -m vp3d.onnx -o clip_poses.json
    python vp3d_lift.py a.csv b.json --video a.mp4 -m model.bin --layout h36m -o lifted/ --format csv
    python vp3d_lift.py clip.json --image-size 1280x720 --fps 30 -m model.bin -o clip.bvh
    python vp3d_lift.py detections/ -m model.bin --people all --min-frames 30 -o lifted/   # every person
    detector | python vp3d_lift.py - --stream -m model.bin --image-size 1920 1080 > poses.jsonl

A video runs a 2D detector first (--detector; vp3d_detect.py runs that stage alone): its 2D file goes beside
the output (<video>.npz, upstream's infer_video_d2.py format) and a second run with the same video and
detector reuses it. Keypoints at another frame rate than the model's (Human3.6M's 50 fps) are resampled to
its rate, lifted, and the poses taken back at the input's frames: --fps, else the rate of --video or of
the video lifted, else the rate the file records, else the model's.
    python vp3d_lift.py clips/ --recursive --image-size 340x256 -m model.onnx -o lifted/ [--resume] [--ray [auto]]

Several inputs into a folder (-o DIR), or a folder, glob or @list as input, is a corpus run (docs/corpus.md):
one output file per input (all its videos), DIR/lift_report.jsonl with a line per input, a bad input is its
error line and the others go on; exit 1 when any input failed. Otherwise every input is read and checked
before the model loads, and the first bad one stops the run (exit 2).
"""
import sys

from pathlib import Path

from vp3d import cli, corpus
from vp3d.engines.backends import BACKENDS, PRECISIONS
from vp3d.engines.stream_layers import ENGINES
from vp3d.engines.devices import DEVICES
from vp3d.facts.limits import MAX_JSON_BYTES, MAX_LINE_BYTES, SPAN_FLOOR, SPAN_PER_FRAME, TRACK_STATE_BYTES
from vp3d.facts.skeleton import DEFAULT_LAYOUT, keypoint_layouts
from vp3d.io.bvh import ORIGINS, UNITS
from vp3d.io.files import refuse_overwrite
from vp3d.io.formats import OUTPUT_FORMATS, output_suffix, per_video_paths, write_outputs
from vp3d.io.keypoints import DEFAULT_MIN_FRAMES, PEOPLE, read_sequences
from vp3d.io.poses import Poses
from vp3d.io.video import is_video, video_info
from vp3d.detect.video import (add_detector_arguments, check_detector_layout, corpus_keypoints_path,
                               detections_for_video, detector_of, detector_spec, two_d_path)
from vp3d.lift import ModelSpec, image_size_for
from vp3d.pipeline.predict import DEFAULT_CHUNK


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="a video (.mp4, .mov, ...: a 2D detector runs on it first); '-' with --stream: JSON lines on "
                        "stdin; else keypoint files, folders of them, quoted globs or "
                        "@LIST (a file of such, one a line): upstream's infer_video_d2.py output (<video>.npz) or data_2d_custom_*.npz "
                        "(every video in it), MMPose predictions, COCO keypoint results or AlphaPose results (.json), "
                        ".csv (frame,joint,x,y[,score][,track]), an .npz of (T, J, 2) pixel arrays keyed by video "
                        "name; or a folder: OpenPose's <name>_<frame>_keypoints.json files, infer_video_d2.py .npz files")
    p.add_argument("-m", "--model", required=True,
                   help="checkpoint (.bin/.pth, either weight layout; its trajectory model is used where it has one) "
                        "or exported model (.onnx, .xml)")
    p.add_argument("-o", "--output", "--out", dest="out", default=None,
                   help="output .npz, .json, .csv (all videos in one file) or .bvh (one video), or a folder (a path "
                        "without a suffix or ending in /: one file per video of one input; with several inputs one file "
                        "per input and DIR/lift_report.jsonl)")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default=None,
                   help="file format inside an output folder (default npz)")
    p.add_argument("--layout", choices=sorted(keypoint_layouts()), default=None,
                   help=f"2D keypoint order the model was trained on (default: what the model records, else "
                        f"{DEFAULT_LAYOUT}: upstream's in-the-wild model)")
    size = p.add_mutually_exclusive_group()
    cli.add_image_size(size, "frame size in pixels, for JSON and CSV inputs (npz files carry their own)")
    size.add_argument("--video", default=None, metavar="FILE",
                      help="read the frame size and rate from this video (needs imageio-ffmpeg)")
    p.add_argument("--people", choices=PEOPLE, default="best",
                   help="best: the highest-scored person per frame (upstream's); all: every person, one sequence "
                        "each (<video>_person<k>, tracked across frames; the file's track ids where it has them); live "
                        "from a video or camera (--stream): each person tracked as the frames come, person<k>")
    p.add_argument("--min-score", type=float, default=None, metavar="S",
                   help="keypoints and detections scored below S are missing: filled by interpolation over time")
    p.add_argument("--min-frames", type=cli.positive_int, default=None, metavar="N",
                   help=f"drop sequences (people) detected in fewer than N frames (default: fragments, those "
                        f"detected in fewer than {DEFAULT_MIN_FRAMES} frames or a quarter of the video's, whichever "
                        f"is fewer; each video keeps its most-detected one); 1 keeps everything")
    p.add_argument("--causal", action="store_true",
                   help="the model is causal (sees only past frames); vp3d's checkpoints and exports record it")
    p.add_argument("--fps", type=cli.positive_float, default=None,
                   help="the keypoints' frame rate (default: the video's, else the rate vp3d's 2D file records, else the "
                        "model's, said in one line): keypoints at another rate than the model's are resampled to it for "
                        "lifting; the poses keep the input's frames, and every pose file records the rate (BVH: 1/FPS "
                        "frame time)")
    p.add_argument("--units", choices=UNITS, default=None, help="BVH output: m or cm (default m)")
    p.add_argument("--origin", choices=ORIGINS, default=None, help="BVH output: where the root goes (see vp3d_export.py)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: torch for checkpoints, onnxruntime for .onnx, openvino for .xml")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="as vp3d_infer.py; a video's detector runs there too (cuda: onnxruntime-gpu, or torch for "
                        "keypointrcnn)")
    p.add_argument("--precision", choices=PRECISIONS, default="f32",
                   help="bf16: OpenVINO on CPUs with bf16, or torch; fp16: torch on CUDA")
    p.add_argument("--threads", type=cli.threads, default=None, help="CPU threads (default: physical cores)")
    video = p.add_argument_group("a video as input (or --camera)")
    add_detector_arguments(video)
    video.add_argument("--render", default=None, metavar="FILE",
                       help="also draw the result over the video (.mp4 or .gif; needs pip install 'vp3d[render]')")
    video.add_argument("--camera", type=cli.non_negative_int, default=None, metavar="N",
                       help="with --stream: detect and lift camera N live (Linux: /dev/videoN; macOS: AVFoundation "
                            "device N)")
    live = p.add_argument_group("live streaming (--stream)")
    live.add_argument("--stream", action="store_true",
                      help='read one JSON line per frame from stdin ({"frame": i, "keypoints": [[x, y], ...]}, optional '
                           '"track"; or an MMPose per-frame entry with "instances"), write one JSON line per final pose '
                           '({"frame": i, "pose": [[x, y, z], ...]}, metres, camera frame) to stdout as it is ready')
    live.add_argument("--lookahead", type=cli.non_negative_int, default=None,
                      help="frames a symmetric model waits before answering a frame (default (RF - 1) / 2: exact; "
                           "fewer: the unseen future filled with the newest frame, see docs/streaming.md)")
    live.add_argument("--stream-engine", choices=("auto", *ENGINES), default="auto",
                      help="what runs the stream's matrix products (auto: the fastest accurate one installed, see "
                           "docs/streaming.md)")
    live.add_argument("--track-timeout", type=cli.positive_int, default=None, metavar="FRAMES",
                      help="flush and forget a track absent for this many input lines (default: keep until the end)")
    live.add_argument("--on-error", choices=("skip", "stop"), default="skip",
                      help="a bad input line: one stderr line naming its number, then skip it or stop")
    live.add_argument("--max-tracks", type=cli.positive_int, default=None, metavar="N",
                      help=f"live tracks at most: a line that brings more ends the least recently seen (default: as "
                           f"many as {TRACK_STATE_BYTES >> 20} MiB of state holds)")
    live.add_argument("--max-line-bytes", type=cli.byte_size, default=MAX_LINE_BYTES, metavar="SIZE",
                      help="a longer input line is a bad line (bytes, or 64k, 4M)")
    limits = p.add_argument_group("limits on what is read (docs/formats.md#limits)")
    limits.add_argument("--max-frames", type=cli.positive_int, default=None, metavar="N",
                        help=f"the most frames a sequence may span, or be resampled to (default: {SPAN_PER_FRAME} per "
                             f"frame its file lists, at least {SPAN_FLOOR})")
    limits.add_argument("--max-json-bytes", type=cli.byte_size, default=MAX_JSON_BYTES, metavar="SIZE",
                        help="the largest JSON keypoint file read (bytes, or 512M, 2G)")
    p.add_argument("--chunk", type=cli.positive_int, default=DEFAULT_CHUNK,
                   help="output frames per model call for checkpoints (bounds memory; exported models use their length)")
    c = p.add_argument_group("corpus runs (-o DIR with several inputs, a folder, glob or @list)")
    c.add_argument("--recursive", action="store_true", help="folders: their subfolders' keypoint files too")
    c.add_argument("--resume", action="store_true",
                   help="skip the inputs DIR/lift_report.jsonl says were lifted and whose outputs exist")
    c.add_argument("--ray", nargs="?", const=corpus.LOCAL, default=None, metavar="ADDRESS",
                   help="run on Ray Data (pip install 'vp3d[ray]'): auto (the running cluster), HOST:PORT, "
                        "ray://HOST:PORT; without ADDRESS a local one")
    c.add_argument("--workers", type=cli.positive_int, default=None,
                   help="--ray: actors, each holding one model (default: the cluster's CPUs / --threads-per-worker)")
    c.add_argument("--threads-per-worker", type=cli.positive_int, default=None,
                   help="--ray: CPUs each actor reserves and its model's threads (default 1)")
    c.add_argument("--ray-timeout", type=cli.positive_float, default=corpus.RAY_CONNECT_TIMEOUT, metavar="SECONDS",
                   help="--ray ADDRESS: give up joining the cluster after this long")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(corpus.ray_argv(sys.argv[1:] if argv is None else argv))
    videos = [i for i in args.inputs if is_video(i)]
    if args.camera is not None and (args.inputs or not args.stream):
        parser.error("--camera N lifts the camera live: give --stream and no INPUT")
    if not args.inputs and args.camera is None:
        parser.error("the following arguments are required: INPUT (or --camera N with --stream)")
    if videos and (args.video or args.image_size):
        parser.error("a video's frame size and rate are its own: no --video or --image-size")
    if (len(videos) != 1 or len(args.inputs) > 1) and args.render:
        parser.error("--render draws over one video: give it as the only INPUT")
    if args.stream:
        return stream_main(parser, args)
    if args.out is None:
        parser.error("the following arguments are required: -o/--output")
    if args.inputs == ["-"] or args.lookahead is not None or args.track_timeout is not None \
            or args.stream_engine != "auto" or args.max_tracks is not None or args.max_line_bytes != MAX_LINE_BYTES:
        parser.error("'-' (stdin), --lookahead, --stream-engine, --track-timeout, --max-tracks and --max-line-bytes "
                     "are for --stream")
    if args.backend == "ais_bench":
        parser.error("--backend ais_bench runs whole input directories on an NPU; lift with onnxruntime, openvino or torch")
    if (args.workers or args.threads_per_worker) and not args.ray:
        parser.error("--workers and --threads-per-worker size a --ray run's actors; without --ray give --threads")
    if args.render and (args.resume or args.ray):
        parser.error("--render draws over one video; --resume and --ray lift a corpus into a folder")
    return cli.run(lambda a: lift_main(parser, a, videos), args)


def lift_main(parser, a, videos: list[str]) -> int:
    """A lifting run writing -o: a video, a corpus (one output per input into a folder: keypoint files, videos or
    both) or keypoint files into one output (or one per video into a folder)."""
    suffix = output_suffix(a.out)                 # an unknown suffix fails before any work
    if a.render:
        from vp3d.viz.render import render_output
        render_output(a.render)                   # its format and Pillow, before any work
    if a.format and suffix and suffix != "." + a.format:
        parser.error(f"--format {a.format} contradicts the output suffix {suffix}")
    written = suffix or "." + (a.format or "npz")
    if written != ".bvh" and (a.units or a.origin):
        parser.error(f"--units and --origin are for BVH output, not {written}")
    if videos and len(a.inputs) == 1 and not (a.resume or a.ray):
        return lift_video(a)
    inputs = corpus.expand_inputs(a.inputs, a.recursive, exclude=None if suffix else a.out)
    has_videos = any(is_video(i.path) for i in inputs)
    if not has_videos and (a.redetect or a.detector_weights):
        parser.error("--redetect and --detector-weights go with videos among the INPUTs")
    if suffix is None and (corpus.is_many(a.inputs, inputs) or a.resume or a.ray):
        return lift_corpus(a, inputs, has_videos)
    if has_videos:
        parser.error("videos with other INPUTs lift as a corpus, one output each: give -o DIR")
    if a.resume or a.ray:
        parser.error("--resume and --ray write one file per input into a folder: give -o DIR")
    a.inputs = [i.path for i in inputs]
    image_size, fps = frame_size_and_rate(a)
    sequences = read_inputs(a, a.inputs, image_size)
    lift_and_write(a, model_spec(a).load(), sequences, image_size, fps)
    return 0


def read_inputs(a, paths: list[str], image_size) -> list:
    """Every sequence of the keypoint files (people, min_score, min_frames, max_frames, max_json_bytes as
    flagged), each checked to have an image size and a name no other file has, before the model loads; a BVH
    output takes one."""
    sequences, origin = [], {}
    for path in paths:
        seqs, dropped = read_sequences(path, a.people, a.min_score, a.min_frames, a.max_frames, a.max_json_bytes)
        if dropped or a.people == "all":
            print(f"[INFO] {path}: {people_summary(seqs, dropped, a.min_frames, a.people)}")
        for seq in seqs:
            if seq.name in origin:
                raise cli.Vp3dError(f"{path}: video name {seq.name!r} is also in {origin[seq.name]}; "
                                    f"rename one of the files")
            origin[seq.name] = path
            image_size_for(seq, image_size)          # before the model loads: every input has a size
            sequences.append(seq)
    if not sequences:
        raise cli.Vp3dError(f"{', '.join(paths)}: every sequence is shorter than --min-frames {a.min_frames} "
                            f"(detected frames); nothing to lift")
    suffix = output_suffix(a.out)
    if suffix == ".bvh" and len(sequences) > 1:                      # before any work: one motion per file
        raise cli.Vp3dError(f"{a.out}: a BVH file holds one motion, but the inputs hold {len(sequences)} videos "
                            f"({', '.join(s.name for s in sequences[:5])}); write to a folder (-o DIR --format bvh)")
    outputs = [a.out] if suffix else per_video_paths(a.out, [s.name for s in sequences], "." + (a.format or "npz")).values()
    refuse_overwrite([("-o", o) for o in outputs], read_by(a))      # nothing of the user's written over
    return sequences


def lift_and_write(a, model, sequences: list, image_size, fps: float | None) -> Poses:
    """Lift every sequence (checked against the model first) at the keypoints' frame rate (fps, else the rate
    their file records, else the model's) and write the outputs; the poses."""
    sizes = [model.check(seq, image_size) for seq in sequences]        # every input checked before lifting
    print(f"[INFO] {model.description}")
    rate = model.rate_of(sequences, fps)                                # vp3d's 2D files record the video's
    if not fps and not any(seq.fps for seq in sequences):
        print("[INFO] " + no_rate(f"the model's {rate:g} fps"))
    elif rate != model.fps:
        print(f"[INFO] keypoints at {rate:g} fps, resampled to the model's {model.fps:g} fps for lifting")
    for seq, (w, h) in zip(sequences, sizes):
        filled = f", {seq.filled} without a detection filled by interpolation" if seq.filled else ""
        if seq.filled_keypoints:
            filled += (f", {seq.filled_keypoints} keypoints " + (f"scored below {a.min_score} or " if
                       a.min_score is not None else "") + "undetected filled by interpolation")
        start = f" from frame {seq.first_frame}" if seq.first_frame else ""
        print(f"[INFO] {seq.name}: {seq.frames} frames{start} ({w}x{h}){filled}")
    poses = model.lift_sequences(sequences, image_size, progress=None, fps=fps, max_frames=a.max_frames)
    for path in write_outputs(a.out, poses, a.format, units=a.units, origin=a.origin):
        print(f"wrote {path}")
    return poses


def lift_video(a) -> None:
    """A video: the model loaded and its keypoint order checked against the detector's, the 2D file beside the
    output made (or reused), lifted as any keypoint file, and with --render drawn over the video."""
    video = Path(a.inputs[0])
    video_info(video)                                        # not a video, or unreadable: before any work
    two_d = two_d_path(video, a.out)
    if Path(a.out).resolve() == two_d.resolve():
        raise cli.Vp3dError(f"{a.out}: that is where the 2D keypoints of {video.name} go; name the output otherwise")
    model = model_spec(a).load()
    detector = detector_of(a, progress=None)
    check_detector_layout(detector, model.layout.name, video)
    detections_for_video(video, two_d, detector, a.redetect)
    sequences = read_inputs(a, [str(two_d)], None)
    poses = lift_and_write(a, model, sequences, None, a.fps)
    if a.render:
        from tqdm import tqdm
        from vp3d.viz.inputs import Keypoints2D
        from vp3d.viz.render import Track, render_over_video
        tracks = [Track(s.name, poses[s.name], Keypoints2D(s.keypoints, model.layout, s.image_size, s.first_frame,
                                                           s.filled_frames)) for s in sequences]
        n = render_over_video(a.render, tracks, video,
                              progress=lambda it: tqdm(it, desc="render", unit="frame", disable=None))
        print(f"wrote {n} frames to {a.render}")


def people_summary(kept: list, dropped: list, min_frames: int | None, people: str) -> str:
    """One line: the sequences kept and those dropped as fragments (detected in fewer than min_frames frames)."""
    def count(seqs, one, many):
        if not seqs:
            return f"no {many}"
        counts = sorted(s.detected_frames for s in seqs)
        span = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
        return f"{len(seqs)} {one if len(seqs) == 1 else many} (detected in {span} frames{' each' * (len(seqs) > 1)})"
    line = "kept " + count(kept, *(("person", "people") if people == "all" else ("sequence", "sequences")))
    if dropped:
        line += f", dropped {count(dropped, 'fragment', 'fragments')}" + \
            (f": fewer than {min_frames}" if min_frames else "; --min-frames 1 keeps them")
    return line


def no_rate(rate: str = "the model's rate") -> str:
    """The line that says a rate was assumed, and how to give the real one."""
    return f"keypoint files record no frame rate: taken as {rate}; give the real one with --fps F (or --video FILE)"


def read_by(a) -> list[tuple[str, str]]:
    """(flag, path) of every file the run reads: the inputs, --video, the model."""
    return [("INPUT", p) for p in a.inputs] + [("--video", a.video), ("-m", a.model)]


def model_spec(a) -> ModelSpec:
    """The model to load, from the parsed flags."""
    return ModelSpec(a.model, a.layout, a.backend, a.device, a.precision, a.threads, True if a.causal else None,
                     a.chunk)


def frame_size_and_rate(a) -> tuple[tuple[int, int] | None, float | None]:
    """(image size (w, h) pixels, the keypoints' frame rate): --image-size and --fps, else what --video's
    metadata give, else None (the file's size; the model's rate)."""
    video = video_info(a.video) if a.video else None
    image_size = tuple(a.image_size) if a.image_size else (video.size if video else None)
    return image_size, a.fps or (video.fps if video else None)


def stream_main(parser, args) -> int:
    """--stream: JSON lines from stdin, or a video's or camera's frames through the detector, to stdout
    (vp3d.stream.json_lines)."""
    live = args.camera is not None or (len(args.inputs) == 1 and is_video(args.inputs[0]))
    if not live and args.inputs != ["-"]:
        parser.error("--stream reads stdin ('-'), a video or --camera N: give one of them as the only input")
    if args.out is not None or args.video is not None or args.render:
        parser.error("--stream writes JSON lines to stdout: not -o, --video or --render")
    if not live and (args.redetect or args.detector_weights):
        parser.error("--redetect and --detector-weights go with a video or camera")
    if not live and not args.image_size:
        parser.error("--stream needs --image-size W H (the frames the detector ran on)")
    if live and args.image_size:
        parser.error("--image-size: a streamed video's frame size is its own")
    if (args.people != "best" and not live) or args.min_score is not None or args.min_frames is not None:
        parser.error("--people (but from a video or camera), --min-score and --min-frames are for files; a stream's "
                     "lines name their track")

    def body(a):
        from vp3d.stream import default_max_tracks, json_lines
        model = model_spec(a).load()
        lines, size, fps = getattr(sys.stdin, "buffer", sys.stdin), tuple(a.image_size or ()), a.fps   # bytes: bounded
        if live:
            lines, size, fps = detected_lines(a, model)
        stream = model.stream(size, a.lookahead, engine=a.stream_engine, threads=a.threads, fps=fps)
        tracks = a.max_tracks or default_max_tracks(stream)
        print(f"[INFO] streaming {stream.description}; lag {stream.lag} frames, "
              f"{stream.state_bytes() / 2 ** 20:.1f} MiB of state per track, at most {tracks} tracks",
              file=sys.stderr, flush=True)
        json_lines(stream, lines, sys.stdout, a.on_error, a.track_timeout, max_line_bytes=a.max_line_bytes,
                   max_tracks=tracks)
    return cli.run(body, args)


def detected_lines(a, model):
    """(JSON lines of the best person's keypoints per frame of the video or camera, or with --people all of every
    person tracked, as they are decoded and detected; the frame size; the frame rate: --fps, else the source's):
    what json_lines reads from stdin otherwise."""
    from vp3d.detect.video import stream_lines
    from vp3d.io.video import camera_frames, video_frames
    source = f"camera {a.camera}" if a.camera is not None else a.inputs[0]
    if a.camera is None:
        video_info(source)                                   # not a video: before the detector loads
    detector = detector_of(a, progress=False)
    check_detector_layout(detector, model.layout.name, source)
    info, frames = camera_frames(a.camera) if a.camera is not None else (video_info(source), video_frames(source))
    print(f"[INFO] {detector.description}", file=sys.stderr, flush=True)
    return stream_lines(detector, frames, a.people), info.size, a.fps or info.fps


def lift_corpus(a, inputs, videos: bool) -> int:
    """A corpus run (vp3d.corpus): one output per input (videos: detected first, by the flags' detector), the
    report, exit 1 when any input failed."""
    jobs = corpus.plan_jobs(inputs, a.out, a.format or "npz")
    written = [job.output for job in jobs] + [str(corpus_keypoints_path(job.input, job.output)) for job in jobs
                                              if is_video(job.input)]          # a video's 2D file, beside its output
    refuse_overwrite([("-o", path) for path in written], [("INPUT", job.input) for job in jobs] +
                     [("--video", a.video), ("-m", a.model)])
    spec = model_spec(a)
    image_size, fps = frame_size_and_rate(a)
    options = corpus.LiftOptions(image_size=image_size, fps=fps, units=a.units, origin=a.origin, people=a.people,
                                 min_score=a.min_score, min_frames=a.min_frames, max_frames=a.max_frames,
                                 max_json_bytes=a.max_json_bytes, detector=detector_spec(a) if videos else None,
                                 redetect=a.redetect)
    if options.fps is None and not all(is_video(i.path) for i in inputs):
        print(f"[INFO] {no_rate()}")
    summary = corpus.lift_corpus(jobs, a.out, spec, options, a.resume, a.ray, a.workers, a.threads_per_worker or 1,
                                 on_row=corpus.print_row, ray_timeout=a.ray_timeout)
    print(corpus.describe(summary))
    if summary.failed:
        print(f"error: {len(summary.failed)} of {len(summary.rows)} inputs failed; their lines in "
              f"{summary.report} say why", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
