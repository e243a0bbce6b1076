namespace Gateway.Security;

/// <summary>
/// Calls back once the folders of some files have been quiet for a moment after a change. A certificate and its key
/// are rewritten in several steps (two files, or a Kubernetes secret swapping its ..data link), so the callback waits
/// for the last of them, and it watches whole folders because a swapped link changes no watched file name.
/// </summary>
internal sealed class FileChangeWatch : IDisposable
{
    private static readonly TimeSpan s_settle = TimeSpan.FromMilliseconds(500);

    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Timer _settled;

    public FileChangeWatch(IEnumerable<string> files, Action onChanged)
    {
        _settled = new Timer(_ => onChanged(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        foreach (var folder in files.Select(file => Path.GetDirectoryName(Path.GetFullPath(file))!).Distinct(StringComparer.Ordinal))
        {
            var watcher = new FileSystemWatcher(folder)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            watcher.Changed += Restart;
            watcher.Created += Restart;
            watcher.Deleted += Restart;
            watcher.Renamed += Restart;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    public void Dispose()
    {
        foreach (var watcher in _watchers)
            watcher.Dispose();
        _settled.Dispose();
    }

    private void Restart(object? sender, FileSystemEventArgs change) => _settled.Change(s_settle, Timeout.InfiniteTimeSpan);
}
