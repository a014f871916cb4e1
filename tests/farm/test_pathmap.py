"""Path mapping between the submitting machine and the farm."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from void_nuke.pathmap import (PathMap, PathMapError, PathRule, is_foreign, load_path_map, load_rules,
                               localise_shot, path_format)
from void_nuke.shot import Shot


def test_windows_drive_maps_to_posix_whatever_the_slashes_or_case() -> None:
    m = PathMap([("Z:\\shows", "/mnt/shows")])
    assert m.map("Z:\\shows\\abc\\sh010.####.exr") == "/mnt/shows/abc/sh010.####.exr"
    assert m.map("z:/Shows/abc/plate.%04d.exr") == "/mnt/shows/abc/plate.%04d.exr"
    assert m.map("Z:\\shows") == "/mnt/shows"


def test_rules_match_whole_components_only() -> None:
    m = PathMap([("/home/art/proj", "/mnt/proj"), ("Z:\\shows", "/mnt/shows")])
    assert m.map("/home/art/project/a.exr") == "/home/art/project/a.exr"
    assert m.map("Z:\\showsX\\a.exr") == "Z:\\showsX\\a.exr"
    assert m.map("/home/art/proj/a/b.exr") == "/mnt/proj/a/b.exr"


def test_posix_rules_are_case_sensitive() -> None:
    m = PathMap([("/Volumes/Shows", "/mnt/shows")])
    assert m.map("/volumes/shows/a") == "/volumes/shows/a"
    assert m.map("/Volumes/Shows/a") == "/mnt/shows/a"


def test_first_matching_rule_wins_in_order() -> None:
    m = PathMap([("/shows", "/a"), ("/shows/abc", "/b")])
    assert m.map("/shows/abc/x") == "/a/abc/x"
    m = PathMap([("/shows/abc", "/b"), ("/shows", "/a")])
    assert m.map("/shows/abc/x") == "/b/x"


def test_unc_share_and_windows_destination() -> None:
    m = PathMap([("\\\\nas\\vfx", "/vfx"), ("/mnt/x", "Y:\\x")])
    assert m.map("\\\\NAS\\vfx\\sh010\\a.exr") == "/vfx/sh010/a.exr"
    assert m.map("/mnt/x/sh010/a.exr") == "Y:\\x\\sh010\\a.exr"


def test_root_destinations_keep_their_separator() -> None:
    assert PathMap([("/srv", "/")]).map("/srv/a/b") == "/a/b"
    assert PathMap([("/srv", "D:\\")]).map("/srv") == "D:\\"
    assert PathMap([("/srv", "D:\\")]).map("/srv/a") == "D:\\a"


def test_strict_mapping_refuses_an_unmapped_windows_path() -> None:
    m = PathMap([("Z:\\shows", "/mnt/shows")])
    with pytest.raises(PathMapError, match="no path-mapping rule covers"):
        m.map("Y:\\other\\a.exr", strict=True)
    assert m.map("/already/posix", strict=True) == "/already/posix"
    assert m.map("ocio://cg-config-v2.2.0", strict=True) == "ocio://cg-config-v2.2.0"


def test_inverse_maps_back() -> None:
    m = PathMap([("Z:\\shows", "/mnt/shows")])
    assert m.inverse().map(m.map("Z:\\shows\\a\\b.exr")) == "Z:\\shows\\a\\b.exr"


def test_invalid_rules_are_named() -> None:
    with pytest.raises(PathMapError, match="must be absolute"):
        PathRule("relative/dir", "/x")
    with pytest.raises(PathMapError, match="POSIX or WINDOWS"):
        PathRule("s3://bucket", "/x", "URI")
    with pytest.raises(PathMapError, match="both"):
        PathRule("", "/x")


def test_path_format_guess() -> None:
    assert path_format("C:\\a") == "WINDOWS"
    assert path_format("c:/a") == "WINDOWS"
    assert path_format("\\\\server\\share") == "WINDOWS"
    assert path_format("/mnt/a") == "POSIX"


def test_openjd_format_round_trip_and_deepest_rule_first(tmp_path: Path) -> None:
    doc = {"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "WINDOWS", "source_path": "Z:\\", "destination_path": "/mnt/z"},
        {"source_path_format": "WINDOWS", "source_path": "Z:\\shows\\abc", "destination_path": "/abc"},
    ]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    m = load_path_map(str(path))
    assert m.map("Z:\\shows\\abc\\x.exr") == "/abc/x.exr"  # OpenJD applies the deeper source first
    assert m.map("Z:\\other\\x.exr") == "/mnt/z/other/x.exr"
    saved = tmp_path / "saved.json"
    m.save_openjd(str(saved))
    assert PathMap.from_openjd(json.loads(saved.read_text())) == m


def test_openjd_sessions_reads_our_rules(tmp_path: Path) -> None:
    """The file we write is one OpenJD's own parser accepts, with the same meaning."""
    sessions = pytest.importorskip("openjd.sessions")
    m = PathMap([("Z:\\shows", "/mnt/shows"), ("/home/art", "/mnt/home")])
    rules = [sessions.PathMappingRule.from_dict(r) for r in m.to_openjd()["path_mapping_rules"]]
    from pathlib import PureWindowsPath
    applied, mapped = rules[0].apply(path=str(PureWindowsPath("Z:/shows/abc/a.exr")))
    assert applied and str(mapped) == m.map("Z:\\shows\\abc\\a.exr")


def test_toml_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[[rules]]\nsource = 'Z:\\shows'\ndestination = \"/mnt/shows\"\n")
    assert load_path_map(str(path)).map("Z:\\shows\\a") == "/mnt/shows/a"
    path.write_text("[[rules]]\nsource = 'Z:\\shows'\n")
    with pytest.raises(PathMapError, match="rules.toml: rules\\[0\\] needs source and destination"):
        load_path_map(str(path))
    with pytest.raises(PathMapError, match="does not exist"):
        load_path_map(str(tmp_path / "missing.toml"))
    assert not load_path_map(None)


def test_rejects_unknown_openjd_version() -> None:
    with pytest.raises(PathMapError, match="pathmapping-1.0"):
        PathMap.from_dict({"version": "pathmapping-9", "path_mapping_rules": []})


def test_shot_paths_go_through_the_map() -> None:
    shot = Shot.from_dict({"plate": "Z:\\shows\\sh010\\plate.####.exr", "frames": "1-4",
                           "remove": "Z:\\shows\\sh010\\remove.####.exr", "output": "Z:\\shows\\sh010\\out"})
    mapped = shot.with_paths(PathMap([("Z:\\shows", "/mnt/shows")]).map)
    assert mapped.plate == "/mnt/shows/sh010/plate.####.exr"
    assert mapped.remove[0].pattern == "/mnt/shows/sh010/remove.####.exr"
    assert mapped.output.directory == "/mnt/shows/sh010/out"


# -- against OpenJD's own rule --------------------------------------------------------------------

_SOURCES = [("WINDOWS", "Z:\\shows"), ("WINDOWS", "z:/Shows/"), ("WINDOWS", "Z:\\"), ("WINDOWS", "\\\\nas\\vfx"),
            ("WINDOWS", "\\\\NAS\\VFX\\plates"), ("WINDOWS", "Z:\\kit"), ("POSIX", "/mnt/shows"),
            ("POSIX", "/mnt/shows/"), ("POSIX", "/")]
_PATHS = ["Z:\\shows\\abc\\a.####.exr", "z:/SHOWS/abc/", "Z:\\showsX\\a.exr", "Z:\\shows", "Z:\\shows\\",
          "Z:/shows\\mixed/seps\\a.exr", "Z:\\shows\\..\\other\\a.exr", "\\\\nas\\vfx\\sh010\\a.exr",
          "\\\\Nas\\Vfx\\plates\\a.exr", "\\\\nas\\vfxx\\a.exr", "Z:\\\u212ait\\a.exr", "Z:\\KIT\\a.exr",
          "/mnt/shows/a/b.exr", "/mnt/shows/a/", "/mnt/showsx/a", "/mnt/Shows/a", "/mnt/shows", "relative/a.exr",
          "Y:\\shows\\a.exr"]


@pytest.mark.skipif(os.name == "nt", reason="compares with OpenJD's rule on a POSIX host")
@pytest.mark.parametrize("fmt,source", _SOURCES)
def test_rules_agree_with_openjd_sessions(fmt: str, source: str) -> None:
    """Drive letters, UNC shares, case, ASCII-only case folding, trailing slashes, '..': same result."""
    sessions = pytest.importorskip("openjd.sessions")
    theirs = sessions.PathMappingRule.from_dict(
        {"source_path_format": fmt, "source_path": source, "destination_path": "/dest/root"})
    ours = PathRule(source, "/dest/root", fmt)
    for path in _PATHS:
        matched, mapped = theirs.apply(path=path)
        assert ours.apply(path) == (mapped if matched else None), (source, path)


def test_a_bare_drive_source_means_the_drive_root() -> None:
    """Documented difference: OpenJD reads 'Z:' as drive-relative and matches nothing under Z:\\."""
    assert PathRule("Z:", "/mnt/z").apply("Z:\\shows\\a.exr") == "/mnt/z/shows/a.exr"
    assert PathRule("Z:", "/mnt/z").to_openjd()["source_path"] == "Z:\\"


def test_results_take_the_destination_separators() -> None:
    """Documented difference: the submitting machine maps for another OS, so the destination's
    separators win (OpenJD maps on the worker, where both are the host's)."""
    assert PathMap([("/mnt/x", "Y:\\x")]).map("/mnt/x/a/b.exr") == "Y:\\x\\a\\b.exr"
    assert PathMap([("/mnt/x", "Y:\\x")]).map("/mnt/x/a/") == "Y:\\x\\a\\"


# -- Windows paths read on another OS -------------------------------------------------------------

def test_windows_paths_in_a_shot_list_are_not_joined_to_its_folder(tmp_path: Path) -> None:
    from void_nuke.batch import load_shot_list
    (tmp_path / "list.toml").write_text(
        "[[shots]]\nname = 'sh010'\nplate = 'Z:\\shows\\abc\\sh010\\plate.####.exr'\nframes = '1-4'\n"
        "remove = '\\\\nas\\mattes\\sh010.####.exr'\noutput = 'Z:\\shows\\abc\\sh010\\renders'\n")
    (shot,) = load_shot_list(str(tmp_path / "list.toml"))
    assert shot.plate == "Z:\\shows\\abc\\sh010\\plate.####.exr"
    assert shot.remove[0].pattern == "\\\\nas\\mattes\\sh010.####.exr"
    assert shot.output.directory == "Z:\\shows\\abc\\sh010\\renders"


@pytest.mark.skipif(os.name == "nt", reason="Windows paths are this host's own there")
def test_localise_maps_or_refuses_foreign_paths(tmp_path: Path) -> None:
    shot = Shot.from_dict({"name": "w", "plate": "Z:\\shows\\w\\plate.####.exr", "frames": "1-4",
                           "remove": "\\\\nas\\mattes\\w.####.exr", "output": "Z:\\shows\\w\\out",
                           "ocio_config": "Z:\\shows\\config.ocio"})
    rules = PathMap([("Z:\\shows", "/mnt/shows"), ("\\\\nas\\mattes", "/mnt/mattes")])
    local = localise_shot(shot, rules)
    assert (local.plate, local.remove[0].pattern, local.output.directory, local.ocio_config) == (
        "/mnt/shows/w/plate.####.exr", "/mnt/mattes/w.####.exr", "/mnt/shows/w/out", "/mnt/shows/config.ocio")
    with pytest.raises(PathMapError, match=r"remove/0 '\\\\\\\\nas\\\\mattes\\\\w.####.exr' is a path for another"):
        localise_shot(shot, PathMap([("Z:\\shows", "/mnt/shows")]))
    with pytest.raises(PathMapError, match="--path-mapping-rules"):
        localise_shot(shot, PathMap())
    assert is_foreign("Z:\\a") and is_foreign("\\\\nas\\a") and not is_foreign("/mnt/a")
    assert is_foreign("/mnt/a", windows_host=True) and not is_foreign("Z:\\a", windows_host=True)


def test_render_time_rules_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": "/studio", "destination_path": "/farm"}]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    assert load_rules(str(path)).map("/studio/a") == "/farm/a"
    assert load_rules(f"file://{path}").map("/studio/a") == "/farm/a"
    assert load_rules(json.dumps(doc)).map("/studio/a") == "/farm/a"
    (tmp_path / "empty.json").write_text("{}")  # what an OpenJD session without rules writes
    assert not load_rules(f"file://{tmp_path / 'empty.json'}")
    monkeypatch.setenv("VOID_PATH_MAPPING_RULES", str(path))
    assert load_rules(None).map("/studio/a") == "/farm/a"
    assert not load_rules("")  # an explicit empty value wins over the environment
    with pytest.raises(PathMapError, match="not valid JSON"):
        load_rules("{oops")


def test_deadline_mapped_paths_come_from_deadlinecommand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for deadlinecommand, answering -CheckPathMappingForMultiplePaths as the Deadline 10
    manual documents it (one mapped path per line, unmatched paths unchanged)."""
    fake = tmp_path / "bin" / "deadlinecommand"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n[ \"$1\" = -CheckPathMappingForMultiplePaths ] || exit 2\nshift\n"
                    "for p in \"$@\"; do printf '%s\\n' \"$p\" | sed 's#^Z:\\\\shows#/mnt/shows#; s#\\\\#/#g'; done\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DEADLINE_PATH", str(fake.parent))
    rules = load_rules("deadline")
    assert rules.map_all(["Z:\\shows\\a b\\p.####.exr", "/other/x"]) == ["/mnt/shows/a b/p.####.exr", "/other/x"]
    shot = Shot.from_dict({"name": "w", "plate": "Z:\\shows\\w\\plate.####.exr", "frames": "1-4",
                           "remove": "Z:\\shows\\w\\m.####.exr", "output": "Z:\\shows\\w\\out"})
    assert localise_shot(shot, rules).output.directory == "/mnt/shows/w/out"
    monkeypatch.setenv("DEADLINE_PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(PathMapError, match="cannot ask Deadline"):
        load_rules("deadline").map_all(["Z:\\a"])
