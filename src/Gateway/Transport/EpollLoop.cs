using System.Collections.Concurrent;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Gateway.Transport;

/// <summary>
/// One event-loop thread, as in Node's libuv: it waits on an epoll set and, for each ready socket, reads and
/// hands the bytes to the connection's pipe, whose reader (the connection handler) runs right here.
/// </summary>
/// <remarks>
/// Listening sockets are served here too, as in libuv: a few connections are accepted per pass, so accepting keeps the
/// pace at which the loop serves the connections it has (<see cref="EpollConnectionListener"/>).
/// Sockets are registered edge-triggered for input and output once, for their whole life, so serving a
/// socket never costs an epoll_ctl. Work from other threads (resuming a paused reader, closing a socket) is
/// queued and the loop woken through an eventfd. Only this thread reads from its sockets and closes them,
/// so a file descriptor is never reused while a read on it could still be in flight.
/// </remarks>
internal sealed unsafe class EpollLoop : IDisposable
{
    private const int MaxEventsPerWait = 256;
    private const ulong WakeToken = ulong.MaxValue;
    // A pass over more ready sockets than this is a loop under load, whose sends wait for the end of the pass...
    private const int BusyPass = 8;
    // ... unless a handling queued this many (a fan-out's): those go at once.
    private const uint FanOutSends = 32;

    // A listening socket's token: these high bits and its index. No connection's token has them, as generations skip
    // uint.MaxValue.
    private const ulong ListenerTokens = (ulong)uint.MaxValue << 32;

    private readonly int _epoll;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<(Action<object?> Action, object? State)> _work = new();
    private readonly Lock _slotsLock = new();
    private readonly Stack<int> _freeSlots = new();
    private EpollConnection?[] _slots = new EpollConnection?[64];
    private readonly List<EpollConnectionListener?> _listeners = []; // the loop thread's
    private int _slotsUsed;
    private uint _generation;
    private int _wakePending;
    private volatile bool _stopping;

    public EpollLoop(string name)
    {
        _epoll = EpollInterop.CreateEpoll();
        if (_epoll < 0) throw new Win32Exception(Marshal.GetLastPInvokeError(), "epoll_create1 failed");
        _wakeFd = EpollInterop.CreateEventFd();
        if (_wakeFd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            EpollInterop.Close(_epoll);
            throw new Win32Exception(errno, "eventfd failed");
        }

        Control(EpollInterop.EpollCtlAdd, _wakeFd, EpollInterop.EpollIn, WakeToken);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public bool IsLoopThread => Thread.CurrentThread == _thread;

    /// <summary>False once the loop has stopped: work scheduled then never runs.</summary>
    public bool IsRunning => !_stopping;

    /// <summary>Adds a socket to the epoll set; its events go to <paramref name="connection"/> from now on.</summary>
    public void Register(EpollConnection connection, int fd)
    {
        ulong token;
        lock (_slotsLock)
        {
            if (!_freeSlots.TryPop(out var slot))
            {
                slot = _slotsUsed++;
                if (slot == _slots.Length)
                {
                    // The loop thread reads the array without the lock: publish a complete copy.
                    var grown = new EpollConnection?[_slots.Length * 2];
                    Array.Copy(_slots, grown, _slots.Length);
                    Volatile.Write(ref _slots, grown);
                }
            }

            // The generation in the high bits tells a reused slot's new socket from the old one's late events.
            if (++_generation == uint.MaxValue) _generation = 1;
            token = ((ulong)_generation << 32) | (uint)slot;
            connection.Token = token; // before the socket is added: its first event may arrive at once
            _slots[slot] = connection;
        }

        Control(EpollInterop.EpollCtlAdd, fd, EpollInterop.EpollIn | EpollInterop.EpollOut | EpollInterop.EpollRdHup | EpollInterop.EpollEt, token);
    }

    /// <summary>Removes a socket before it is closed; loop thread only.</summary>
    public void Unregister(ulong token, int fd)
    {
        EpollInterop.EpollCtl(_epoll, EpollInterop.EpollCtlDel, fd, null);
        lock (_slotsLock)
        {
            var slot = (int)(uint)token;
            _slots[slot] = null;
            _freeSlots.Push(slot);
        }
    }

    /// <summary>Adds a listening socket, reported readable (level-triggered) while its backlog has connections; loop thread only.</summary>
    public ulong AddListener(EpollConnectionListener listener, int fd)
    {
        var token = ListenerTokens | (uint)_listeners.Count;
        _listeners.Add(listener);
        Control(EpollInterop.EpollCtlAdd, fd, EpollInterop.EpollIn, token);
        return token;
    }

    /// <summary>Stops or resumes a listening socket's reports; loop thread only.</summary>
    public void WatchListener(int fd, ulong token, bool watch) =>
        Control(EpollInterop.EpollCtlMod, fd, watch ? EpollInterop.EpollIn : 0, token);

    /// <summary>Removes a listening socket before it is closed; loop thread only.</summary>
    public void RemoveListener(int fd, ulong token)
    {
        EpollInterop.EpollCtl(_epoll, EpollInterop.EpollCtlDel, fd, null);
        _listeners[(int)(uint)token] = null;
    }

    /// <summary>Runs <paramref name="action"/> on the loop thread, soon; safe from any thread.</summary>
    public void Schedule(Action<object?> action, object? state)
    {
        _work.Enqueue((action, state));
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            EpollInterop.Write(_wakeFd, &one, sizeof(ulong));
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        Schedule(static _ => { }, null);
        if (!IsLoopThread) _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Run()
    {
        var events = stackalloc byte[MaxEventsPerWait * EpollInterop.EpollEventSize];
        while (!_stopping)
        {
            var count = EpollInterop.EpollWait(_epoll, events, MaxEventsPerWait, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollInterop.EINTR) continue;
                throw new Win32Exception(Marshal.GetLastPInvokeError(), "epoll_wait failed");
            }

            RunPass(events, count);
        }

        RunQueuedWork();
        EpollInterop.Close(_wakeFd);
        EpollInterop.Close(_epoll);
    }

    private void RunPass(byte* events, int count)
    {
        var slots = Volatile.Read(ref _slots);
        // The sends each handling queues (a WebSocket fan-out's, one per subscriber) go to the kernel together, in one
        // system call, as soon as that handling ends. Under load, with many sockets ready at once, those of the whole pass
        // go together when it ends: a route's requests, one per answer read in the pass, then cost one system call
        // instead of one each, while a lightly loaded loop makes no send wait for the handling of other sockets.
        using var sends = SendRing.Begin();
        var submitAfter = count > BusyPass ? FanOutSends : 1;
        for (var i = 0; i < count; i++)
        {
            var slot = events + (i * EpollInterop.EpollEventSize);
            var token = EpollInterop.ReadData(slot);
            if (token >= ListenerTokens)
            {
                if (token == WakeToken)
                {
                    RunQueuedWork();
                    slots = Volatile.Read(ref _slots);
                }
                else
                {
                    _listeners[(int)(uint)token]?.AcceptSome();
                }
            }
            else
            {
                var index = (int)(uint)token;
                if ((uint)index < (uint)slots.Length && slots[index] is { } connection && connection.Token == token)
                    connection.OnEvents(EpollInterop.ReadEvents(slot));
            }

            SendRing.SubmitIfAtLeast(submitAfter);
        }
    }

    private void RunQueuedWork()
    {
        ulong drained;
        EpollInterop.Read(_wakeFd, &drained, sizeof(ulong));
        // Cleared before draining, with a full fence so the clear cannot pass the reads of the queue:
        // work queued from now on wakes the loop again.
        Interlocked.Exchange(ref _wakePending, 0);
        while (_work.TryDequeue(out var item))
            item.Action(item.State);
    }

    private void Control(int operation, int fd, uint events, ulong token)
    {
        var epollEvent = stackalloc byte[16];
        EpollInterop.WriteEvent(epollEvent, events, token);
        if (EpollInterop.EpollCtl(_epoll, operation, fd, epollEvent) != 0)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "epoll_ctl failed");
    }
}
