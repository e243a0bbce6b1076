using System.Diagnostics;
using System.Text;

namespace Gateway.Tests.Infrastructure;

/// <summary>Runs a real program (the gateway binary, node) and collects what it prints.</summary>
internal sealed class ProcessRunner : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _gate = new();

    private ProcessRunner(Process process)
    {
        _process = process;
    }

    /// <param name="standardInput">Written to the program's standard input, which is then closed; null leaves the input alone.</param>
    public static ProcessRunner Start(string fileName, IEnumerable<string> arguments, IDictionary<string, string>? environment = null, string? workingDirectory = null,
        string? standardInput = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;

        var process = new Process { StartInfo = info };
        var runner = new ProcessRunner(process);
        process.OutputDataReceived += (_, e) => runner.Append(runner._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => runner.Append(runner._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (standardInput is not null)
        {
            process.StandardInput.Write(standardInput);
            process.StandardInput.Close();
        }

        return runner;
    }

    public string StandardOutput { get { lock (_gate) return _stdout.ToString(); } }

    public string StandardError { get { lock (_gate) return _stderr.ToString(); } }

    public int ExitCode => _process.ExitCode;

    /// <summary>The process id, to send it a signal.</summary>
    public int Id => _process.Id;

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_process.StartInfo.FileName} did not exit in {timeout}. stdout:\n{StandardOutput}\nstderr:\n{StandardError}");
        }

        return _process.ExitCode;
    }

    public async Task WaitForOutputAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!predicate(StandardOutput))
        {
            if (DateTime.UtcNow > deadline || _process.HasExited && !predicate(StandardOutput))
            {
                if (_process.HasExited) await Task.Delay(100);
                if (predicate(StandardOutput)) return;
                throw new TimeoutException($"Expected output did not appear. stdout:\n{StandardOutput}\nstderr:\n{StandardError}");
            }

            await Task.Delay(20);
        }
    }

    private void Append(StringBuilder target, string? line)
    {
        if (line is null) return;
        lock (_gate) target.AppendLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
