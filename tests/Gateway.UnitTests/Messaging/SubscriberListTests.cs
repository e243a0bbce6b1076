using Gateway.Messaging;

namespace Gateway.UnitTests.Messaging;

/// <summary>
/// The subscribers of one exact topic: what a reader sees is what was added and not removed, each once, also while a
/// writer adds and removes, grows the array and packs it.
/// </summary>
public sealed class SubscriberListTests
{
    private sealed class Item(int id) : ISubscriberListItem
    {
        public int Id { get; } = id;

        public int Slot { get; set; } = -1;
    }

    private static List<Item> Live(SubscriberList<Item> list)
    {
        var items = new List<Item>();
        foreach (var item in list.Read())
        {
            if (item is not null) items.Add(item);
        }

        return items;
    }

    [Fact]
    public void Holds_what_was_added_and_not_removed_through_growth_and_packing()
    {
        var list = new SubscriberList<Item>();
        var random = new Random(3);
        var held = new List<Item>();
        for (var i = 0; i < 20_000; i++)
        {
            if (held.Count > 0 && random.Next(3) == 0)
            {
                var index = random.Next(held.Count);
                Assert.True(list.Remove(held[index]));
                Assert.False(list.Remove(held[index]));
                held.RemoveAt(index);
            }
            else
            {
                var item = new Item(i);
                list.Add(item);
                held.Add(item);
            }
        }

        Assert.Equal(held.Count, list.Live);
        Assert.Equal(held.Select(item => item.Id).Order(), Live(list).Select(item => item.Id).Order());

        foreach (var item in held) Assert.True(list.Remove(item));
        Assert.Equal(0, list.Live);
        Assert.Empty(Live(list));
        // Packed as it emptied: the array it reads is small again, not 20,000 holes.
        Assert.True(list.Read().Length <= 4, $"{list.Read().Length} slots left to read in an empty list");
    }

    [Fact]
    public void An_item_of_another_list_is_not_removed()
    {
        var first = new SubscriberList<Item>();
        var second = new SubscriberList<Item>();
        var a = new Item(1);
        var b = new Item(2);
        first.Add(a);
        second.Add(b);

        Assert.False(first.Remove(b)); // same slot number, another list's item

        Assert.Equal([a], Live(first));
        Assert.Equal([b], Live(second));
    }

    [Fact]
    public async Task Readers_see_every_stable_item_once_while_a_writer_adds_removes_grows_and_packs()
    {
        var list = new SubscriberList<Item>();
        var stable = Enumerable.Range(0, 100).Select(id => new Item(id)).ToList();
        foreach (var item in stable) list.Add(item);

        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            var churn = new Random(9);
            var held = new List<Item>();
            var next = 1_000_000;
            while (!stop.IsCancellationRequested)
            {
                // Bursts of adds then of removes, so the array grows past its size and is packed again and again.
                for (var i = churn.Next(1, 500); i > 0; i--)
                {
                    var item = new Item(next++);
                    list.Add(item);
                    held.Add(item);
                }

                // Down to fewer than 100 again, so the list stays small however long the readers take.
                for (var keep = churn.Next(100); held.Count > keep;)
                {
                    var index = churn.Next(held.Count);
                    Assert.True(list.Remove(held[index]));
                    held[index] = held[^1];
                    held.RemoveAt(held.Count - 1);
                }
            }

            return held;
        });

        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var seen = new HashSet<int>();
                foreach (var item in list.Read())
                {
                    if (item is not null) Assert.True(seen.Add(item.Id), $"item {item.Id} read twice in one pass");
                }

                Assert.All(stable, item => Assert.Contains(item.Id, seen));
            }
        })).ToList();

        await Task.WhenAll(readers);
        stop.Cancel();
        var left = await writer;

        Assert.Equal(stable.Count + left.Count, list.Live);
        Assert.Equal(stable.Concat(left).Select(item => item.Id).Order(), Live(list).Select(item => item.Id).Order());
    }
}
