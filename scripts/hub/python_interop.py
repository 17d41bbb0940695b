"""The Python side of scripts/hub/python_interop.sh: huggingface_hub against the local fake hub.

  python python_interop.py download ENDPOINT CACHE REPO_TYPE REPO_ID PATTERN...
      snapshot_download of the files matching PATTERN (online, against ENDPOINT); prints the folder.
  python python_interop.py offline CACHE REPO_TYPE REPO_ID REVISION
      snapshot_download with local_files_only and scan_cache_dir; prints JSON {path, files, warnings}.
"""

import json
import sys

from huggingface_hub import scan_cache_dir, snapshot_download


def main(argv):
    if argv[0] == "download":
        endpoint, cache, repo_type, repo_id, *patterns = argv[1:]
        path = snapshot_download(
            repo_id, repo_type=repo_type, cache_dir=cache, endpoint=endpoint, allow_patterns=patterns
        )
        print(path)
    elif argv[0] == "offline":
        cache, repo_type, repo_id, revision = argv[1:]
        path = snapshot_download(repo_id, repo_type=repo_type, cache_dir=cache, revision=revision, local_files_only=True)
        info = scan_cache_dir(cache)
        files = sorted(
            f.file_name for repo in info.repos for rev in repo.revisions for f in rev.files if repo.repo_id == repo_id
        )
        print(json.dumps({"path": path, "files": files, "warnings": [str(w) for w in info.warnings]}))
    else:
        raise SystemExit(f"unknown command {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
